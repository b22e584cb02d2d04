"""Property: whatever a client sends, the answer is OK or a documented client-error code.

Never INTERNAL or UNKNOWN. Triton is down here, so requests that pass every check end in
UNAVAILABLE (test_end_to_end.py runs the same property against a real Triton).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from tests.gateway.conftest import RunningGateway, auth

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
METHODS = ("Predict", "PredictBatch", "PredictStream")
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

texts = st.text(max_size=300) | st.sampled_from(["good movie", "", "  ", "\x00", "bad " * 30])
request_ids = st.text(max_size=140) | st.uuids().map(str)
models = st.sampled_from(["", "sentiment", "other"]) | st.text(max_size=10)
metadata = st.sampled_from(["valid", "none", "garbage"])


@pytest.fixture(scope="module")
def shared(
    tokenizer_dir: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningGateway, str]]:
    from gateway.core.text import TextAnalyzer
    from tests.gateway.conftest import dead_triton_url, gateway_settings

    state = tmp_path_factory.mktemp("property-state")
    gateway = RunningGateway(
        gateway_settings(dead_triton_url()), state, TextAnalyzer.from_dir(tokenizer_dir)
    ).start()
    yield gateway, gateway.create_key("property")
    gateway.stop()


def code_of(call: Any) -> grpc.StatusCode:
    try:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def meta(kind: str, key: str) -> Any:
    return {"valid": auth(key), "none": (), "garbage": (("authorization", "Bearer " + "~" * 600),)}[
        kind
    ]


@FAST
@given(text=texts, request_id=request_ids, model=models, who=metadata)
def test_any_predict_request(
    shared: tuple[RunningGateway, str], text: str, request_id: str, model: str, who: str
) -> None:
    gateway, key = shared
    request = pb.PredictRequest(text=text, request_id=request_id, model=model)
    call = lambda: gateway.stub.Predict(request, metadata=meta(who, key), timeout=5)  # noqa: E731
    assert code_of(call) in ALLOWED


@FAST
@given(batch=st.lists(texts, max_size=6), request_id=request_ids, model=models)
def test_any_batch_request(
    shared: tuple[RunningGateway, str], batch: list[str], request_id: str, model: str
) -> None:
    gateway, key = shared
    request = pb.PredictBatchRequest(texts=batch, request_id=request_id, model=model)
    assert (
        code_of(lambda: gateway.stub.PredictBatch(request, metadata=auth(key), timeout=5))
        in ALLOWED
    )


@FAST
@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=6000))
def test_any_bytes(shared: tuple[RunningGateway, str], method: str, payload: bytes) -> None:
    gateway, key = shared
    path = f"/sentiment.v1.SentimentService/{method}"
    identity = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}
    if method == "PredictStream":
        stream = gateway.channel.stream_stream(path, **identity)
        call = lambda: stream(iter([payload]), metadata=auth(key), timeout=5)  # noqa: E731
    else:
        unary = gateway.channel.unary_unary(path, **identity)
        call = lambda: unary(payload, metadata=auth(key), timeout=5)  # noqa: E731
    assert code_of(call) in ALLOWED
