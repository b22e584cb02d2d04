"""The request's truncation choice reaches Triton as the inference request parameter
`truncation` ("head" / "head_tail"; absent when the request refuses long texts): a real
gateway in front of a real Triton whose one model answers with the parameter it got."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from serving.tritonserver import TritonServer
from tests.gateway.conftest import RunningGateway, auth
from tests.gateway.upstream.conftest import python_model_triton, text_model_config

pytestmark = pytest.mark.triton

CONFIG = text_model_config(8)

ECHO_MODEL = """
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            n = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().shape[0]
            got = json.loads(request.parameters() or "{}").get("truncation", "absent")
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("LABEL", np.array([[str(got).encode()]] * n, dtype=np.object_)),
                pb_utils.Tensor("SCORE", np.full((n, 1), 0.5, dtype=np.float32)),
                pb_utils.Tensor("PROBABILITIES", np.full((n, 2), 0.5, dtype=np.float32)),
            ]))
        return responses
"""


@pytest.fixture(scope="module")
def echo_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A real Triton serving `sentiment`: a Python model whose LABEL is its request's
    `truncation` parameter ("absent" without one)."""
    yield from python_model_triton(tmp_path_factory.mktemp("echo-triton"), CONFIG, ECHO_MODEL)


@pytest.fixture
def gateway(start_gateway: Any, echo_triton: TritonServer) -> tuple[RunningGateway, str]:
    gateway = start_gateway(echo_triton.grpc_url)
    return gateway, gateway.create_key("echo")


LONG = "good movie " * 20
"""42 tokens, over the test tokenizer's limit of 16."""


@pytest.mark.parametrize(
    ("truncation", "parameter"),
    [(pb.TRUNCATION_HEAD, "head"), (pb.TRUNCATION_HEAD_TAIL, "head_tail")],
)
def test_truncation_is_sent_as_a_request_parameter(
    gateway: tuple[RunningGateway, str], truncation: int, parameter: str
) -> None:
    running, key = gateway
    answer = running.stub.Predict(
        pb.PredictRequest(text=LONG, truncation=truncation), metadata=auth(key), timeout=10
    )
    assert answer.prediction.label == parameter
    batch = running.stub.PredictBatch(
        pb.PredictBatchRequest(texts=["good", LONG], truncation=truncation),
        metadata=auth(key),
        timeout=10,
    )
    assert [p.label for p in batch.predictions] == [parameter, parameter]
    stream = running.stub.PredictStream(
        iter(
            [
                pb.PredictStreamRequest(text=LONG, truncation=truncation),
                pb.PredictStreamRequest(text="good"),
            ]
        ),
        metadata=auth(key),
        timeout=10,
    )
    assert [r.prediction.label for r in stream] == [parameter, "absent"]


@pytest.mark.parametrize("truncation", [pb.TRUNCATION_UNSPECIFIED, pb.TRUNCATION_NONE])
def test_no_parameter_when_long_texts_are_refused(
    gateway: tuple[RunningGateway, str], truncation: int
) -> None:
    running, key = gateway
    answer = running.stub.Predict(
        pb.PredictRequest(text="a good film", truncation=truncation), metadata=auth(key), timeout=10
    )
    assert answer.prediction.label == "absent"
