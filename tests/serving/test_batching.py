"""Dynamic batching is real: concurrent requests run in fewer executions, in every model
that runs on the CPU path of a text-in model (there, one Python step: configs/cpu.pbtxt)
and in the GPU ensemble's first step, called directly."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.triton


def statistics_after(client: Any, model: str, before: dict[str, int], requests: int) -> Any:
    """`model`'s statistics once they count `requests` more inferences than `before`:
    Triton records an execution's statistics after it has sent the responses, so the
    last execution's can lag the last answer (5 s at most)."""
    deadline = time.monotonic() + 5
    while True:
        after = client.statistics(model)
        done = after["inference_count"] - before["inference_count"] >= requests
        if done or time.monotonic() > deadline:
            return after
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("model", "output"),
    [("sentiment", "LABEL"), ("sentiment_int8", "LABEL"), ("sentiment_tokenizer", "input_ids")],
)
def test_concurrent_requests_are_batched(clients, golden, model: str, output: str) -> None:
    client = clients["grpc"]
    before = client.statistics(model)
    # Short texts of one bucket, so every step may batch them together.
    texts = [t for t in golden if len(t.split()) < 8][:16] * 4
    requests = [{"TEXT": np.array([[t.encode()]], dtype=np.object_)} for t in texts]
    results = client.infer_many(model, requests, [output])
    assert all(isinstance(r, dict) for r in results)
    after = statistics_after(client, model, before, len(requests))
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == len(requests), model
    assert executions < inferences, f"{model}: {executions} executions for {inferences}"


def test_a_text_gets_the_same_answer_whatever_it_is_batched_with(clients, golden) -> None:
    """Texts of every length in flight at once run in shared, padded runs (model.py:
    padded_runs): each answer matches the one the same text gets alone, unpadded. The
    test model's answers to different texts differ by about 1e-5: a row answered with
    another text's logits is caught by the tolerance of 2e-6. (FP32 only: INT8's dynamic
    quantization scales each run's activations by the whole run, so its answers move with
    their batch-mates by about 2e-5, as they did in runs of one length.)"""
    model = "sentiment"
    client = clients["grpc"]
    long_text = " ".join(golden[:12])  # a review far longer than the sentences around it
    texts = [long_text, *sorted(golden[:40], key=len), long_text[: len(long_text) // 2]]
    alone = [
        client.infer(model, {"TEXT": np.array([[t.encode()]], dtype=np.object_)}, ["PROBABILITIES"])
        for t in texts
    ]
    before = client.statistics(model)
    requests = [{"TEXT": np.array([[t.encode()]], dtype=np.object_)} for t in texts * 3]
    together = client.infer_many(model, requests, ["PROBABILITIES"])
    after = statistics_after(client, model, before, len(requests))
    executions = after["execution_count"] - before["execution_count"]
    assert executions < len(requests)  # they did share executions
    for index, result in enumerate(together):
        assert isinstance(result, dict), result
        expected = alone[index % len(texts)]["PROBABILITIES"]
        np.testing.assert_allclose(result["PROBABILITIES"], expected, rtol=0, atol=2e-6)
