"""Served == offline on the golden set, for every model, over HTTP and gRPC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from export.publish import PublishedVersion

pytestmark = pytest.mark.triton

TOLERANCE = 1e-4


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def assert_labels_match(served: np.ndarray, offline: np.ndarray) -> None:
    """Argmax agrees wherever the offline margin exceeds the tolerance (no near-ties)."""
    decided = np.abs(offline[:, 1] - offline[:, 0]) > TOLERANCE
    np.testing.assert_array_equal(served.argmax(1)[decided], offline.argmax(1)[decided])


def served_ok(results: list) -> list[dict[str, np.ndarray]]:
    failures = [r for r in results if not isinstance(r, dict)]
    assert not failures, f"{len(failures)} requests failed, first: {failures[0]}"
    return results


def test_tokenizer_returns_offline_ids_padded_to_buckets(client, offline) -> None:
    requests = [{"TEXT": np.array([[t.encode()]], dtype=np.object_)} for t in offline.texts]
    results = served_ok(
        client.infer_many("sentiment_tokenizer", requests, ["input_ids", "attention_mask"])
    )
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["input_ids"], offline.input_ids[i])
        np.testing.assert_array_equal(result["attention_mask"], offline.attention_mask[i])
    assert {r["input_ids"].shape[1] for r in results} <= {16, 32, 64, 128}


def test_onnx_matches_eager(client, offline) -> None:
    requests = [
        {"input_ids": ids, "attention_mask": mask}
        for ids, mask in zip(offline.input_ids, offline.attention_mask, strict=True)
    ]
    results = served_ok(client.infer_many("sentiment_onnx", requests, ["logits"]))
    logits = np.concatenate([r["logits"] for r in results])
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, offline.logits, atol=TOLERANCE, rtol=0)
    assert_labels_match(logits, offline.logits)


def test_torchscript_via_served_tokenizer_matches_eager(client, offline) -> None:
    texts = [{"TEXT": np.array([[t.encode()]], dtype=np.object_)} for t in offline.texts]
    tokens = served_ok(
        client.infer_many("sentiment_tokenizer", texts, ["input_ids", "attention_mask"])
    )
    requests = [
        {"input_ids__0": t["input_ids"], "attention_mask__1": t["attention_mask"]} for t in tokens
    ]
    results = served_ok(client.infer_many("sentiment_torchscript", requests, ["logits__0"]))
    logits = np.concatenate([r["logits__0"] for r in results])
    np.testing.assert_allclose(logits, offline.logits, atol=TOLERANCE, rtol=0)
    assert_labels_match(logits, offline.logits)


def test_onnx_int8_matches_offline_int8(
    client, offline, published: PublishedVersion, serving_repository: Path
) -> None:
    """INT8 quantizes activations with one scale per batch, so served and offline must run
    the same batches: one request per bucket (at most 64 texts), sent one at a time."""
    path = serving_repository / "sentiment_onnx_int8" / str(published.version) / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    by_length: dict[int, list[int]] = {}
    for index, ids in enumerate(offline.input_ids):
        by_length.setdefault(ids.shape[1], []).append(index)
    checked = 0
    for indices in by_length.values():
        for start in range(0, len(indices), 64):
            chunk = indices[start : start + 64]
            feed = {
                "input_ids": np.concatenate([offline.input_ids[i] for i in chunk]),
                "attention_mask": np.concatenate([offline.attention_mask[i] for i in chunk]),
            }
            served = client.infer("sentiment_onnx_int8", feed, ["logits"])["logits"]
            expected = session.run(["logits"], feed)[0]
            np.testing.assert_allclose(served, expected, atol=TOLERANCE, rtol=0)
            assert_labels_match(served, expected)
            checked += len(chunk)
    assert checked == len(offline.texts)


def test_ensemble_matches_eager(client, offline) -> None:
    requests = [{"TEXT": np.array([[t.encode()]], dtype=np.object_)} for t in offline.texts]
    outputs = ["LABEL", "SCORE", "PROBABILITIES"]
    results = served_ok(client.infer_many("sentiment", requests, outputs))
    probabilities = np.concatenate([r["PROBABILITIES"] for r in results])
    expected = softmax(offline.logits)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected, atol=TOLERANCE, rtol=0)
    scores = np.concatenate([r["SCORE"] for r in results])[:, 0]
    np.testing.assert_allclose(scores, expected.max(axis=1), atol=TOLERANCE, rtol=0)
    labels = np.array([r["LABEL"][0, 0].decode() for r in results])
    decided = np.abs(offline.logits[:, 1] - offline.logits[:, 0]) > TOLERANCE
    wanted = np.array(offline.labels)[offline.logits.argmax(axis=1)]
    np.testing.assert_array_equal(labels[decided], wanted[decided])


def test_ensemble_request_with_many_texts_of_mixed_lengths(client, offline) -> None:
    """One request of 8 texts (short and long): padded together, same numbers."""
    order = np.argsort([ids.shape[1] for ids in offline.input_ids])
    chosen = [*order[:4], *order[-4:]]
    text = np.array([[offline.texts[i].encode()] for i in chosen], dtype=np.object_)
    result = client.infer("sentiment", {"TEXT": text}, ["PROBABILITIES"])
    expected = softmax(offline.logits[chosen])
    np.testing.assert_allclose(result["PROBABILITIES"], expected, atol=TOLERANCE, rtol=0)


def test_int8_text_model_matches_offline_int8(
    client, offline, published: PublishedVersion, serving_repository: Path
) -> None:
    """`sentiment_int8` (text in) serves the INT8 classifier's numbers. One text per call,
    sent one at a time, so each runs alone as it does offline (INT8 scales per batch)."""
    path = serving_repository / "sentiment_onnx_int8" / str(published.version) / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for index, text in enumerate(offline.texts[:32]):
        feed = {
            "input_ids": offline.input_ids[index],
            "attention_mask": offline.attention_mask[index],
        }
        expected = softmax(session.run(["logits"], feed)[0])
        served = client.infer(
            "sentiment_int8",
            {"TEXT": np.array([[text.encode()]], dtype=np.object_)},
            ["PROBABILITIES"],
        )["PROBABILITIES"]
        np.testing.assert_allclose(served, expected, atol=TOLERANCE, rtol=0)
