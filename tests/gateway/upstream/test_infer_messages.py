"""The ModelInfer messages the gateway builds and reads itself (Triton's protocol, without
tritonclient's InferInput/InferResult): checked against tritonclient's own serialization."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException, serialize_byte_tensor

from gateway.upstream.triton_client import (
    OUTPUTS,
    bytes_tensor,
    infer_request,
    read_outputs,
    split_bytes_tensor,
)

TEXTS = ["a fine film", "", "ünïcödé ✓", "x" * 300]


def test_the_text_tensor_is_serialized_as_tritonclient_does() -> None:
    encoded = [t.encode() for t in TEXTS]
    expected = serialize_byte_tensor(np.array(encoded, dtype=np.object_)).item()
    assert bytes_tensor(encoded) == expected
    assert split_bytes_tensor(expected) == encoded


def test_a_request_names_model_version_id_outputs_and_truncation() -> None:
    request = infer_request("sentiment", TEXTS, "audit-1", "2", "head_tail")
    assert (request.model_name, request.model_version, request.id) == ("sentiment", "2", "audit-1")
    (text,) = request.inputs
    assert (text.name, text.datatype, list(text.shape)) == ("TEXT", "BYTES", [len(TEXTS), 1])
    assert split_bytes_tensor(request.raw_input_contents[0]) == [t.encode() for t in TEXTS]
    assert [o.name for o in request.outputs] == list(OUTPUTS)
    assert request.parameters["truncation"].string_param == "head_tail"
    assert "truncation" not in infer_request("sentiment", TEXTS, "a", "", None).parameters


def response(labels: list[bytes], probabilities: np.ndarray) -> service_pb2.ModelInferResponse:
    answer = service_pb2.ModelInferResponse(model_name="sentiment", model_version="1")
    scores = probabilities.max(axis=1).astype("<f4")
    for name, raw in (
        ("LABEL", bytes_tensor(labels)),
        ("PROBABILITIES", probabilities.astype("<f4").tobytes()),  # any output order
        ("SCORE", scores.tobytes()),
    ):
        answer.outputs.add(name=name)
        answer.raw_output_contents.append(raw)
    return answer


def test_outputs_are_read_per_text_in_order() -> None:
    probabilities = np.array([[0.1, 0.9], [0.75, 0.25], [0.5, 0.5]], dtype=np.float32)
    labels = [b"positive", b"negative", b"negative"]
    predictions = read_outputs(response(labels, probabilities), 3)
    assert [p.label for p in predictions] == ["positive", "negative", "negative"]
    assert [p.score for p in predictions] == pytest.approx([0.9, 0.75, 0.5])
    assert [p.probabilities for p in predictions] == [
        pytest.approx(row) for row in probabilities.tolist()
    ]


def test_an_answer_for_another_number_of_texts_is_refused() -> None:
    probabilities = np.array([[0.1, 0.9], [0.75, 0.25]], dtype=np.float32)
    answer = response([b"positive", b"negative"], probabilities)
    with pytest.raises((InferenceServerException, struct.error)):
        read_outputs(answer, 3)
