"""Every validation path through a real gateway: the code and the BadRequest field names."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from client.sdk import error_details
from tests.gateway.conftest import RunningGateway, auth

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def call_error(method: Any, request: Any, key: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        method(request, metadata=auth(key), timeout=5)
    return caught.value


def raw_call(gateway: RunningGateway, method: str, payload: bytes, key: str) -> grpc.RpcError:
    call = gateway.channel.unary_unary(
        f"/sentiment.v1.SentimentService/{method}",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as caught:
        call(payload, metadata=auth(key), timeout=5)
    return caught.value


@pytest.mark.parametrize(
    ("request_", "code", "fields"),
    [
        (pb.PredictRequest(text=""), INVALID, {"text"}),
        (pb.PredictRequest(text=" \t\n "), INVALID, {"text"}),
        (pb.PredictRequest(text="\x00\x00\x00"), INVALID, {"text"}),
        (pb.PredictRequest(text="a fine\x00 film"), INVALID, {"text"}),  # PostgreSQL refuses NUL
        (pb.PredictRequest(text="\x07\x1b\x7f"), INVALID, {"text"}),  # controls only
        (pb.PredictRequest(text="\u200b\u200d\ufeff\u2060 "), INVALID, {"text"}),  # zero-width
        (pb.PredictRequest(text="good " * 50), INVALID, {"text"}),  # 52 tokens > 16
        (pb.PredictRequest(text="good", truncation=9), INVALID, {"truncation"}),
        (pb.PredictRequest(text="good movie " * 8), INVALID, {"text"}),  # 18 tokens > 16
        (pb.PredictRequest(text="good", request_id="no spaces"), INVALID, {"request_id"}),
        (pb.PredictRequest(text="good", request_id="x" * 129), INVALID, {"request_id"}),
        (pb.PredictRequest(text="good", model="other"), INVALID, {"model"}),
        (pb.PredictRequest(text="", model="other"), INVALID, {"text", "model"}),
    ],
)
def test_predict_rejections(
    gateway: RunningGateway, api_key: str, request_: Any, code: Any, fields: set[str]
) -> None:
    error = call_error(gateway.stub.Predict, request_, api_key)
    assert error.code() == code
    assert set(error_details(error).field_violations) == fields


@pytest.mark.parametrize(
    ("texts", "fields"),
    [
        ([], {"texts"}),
        (["good"] * 5, {"texts"}),  # over max_batch_texts=4
        (["good", "", "bad", " "], {"texts[1]", "texts[3]"}),
        (["\u200b", "bon film \u200b", "\x00"], {"texts[0]", "texts[2]"}),
    ],
)
def test_batch_rejections(
    gateway: RunningGateway, api_key: str, texts: list[str], fields: set[str]
) -> None:
    error = call_error(gateway.stub.PredictBatch, pb.PredictBatchRequest(texts=texts), api_key)
    assert error.code() == INVALID
    assert set(error_details(error).field_violations) == fields


def test_invalid_utf8_names_the_field(gateway: RunningGateway, api_key: str) -> None:
    # field 1 (text), length 2, bytes that are not UTF-8
    error = raw_call(gateway, "Predict", b"\x0a\x02\xff\xfe", api_key)
    assert error.code() == INVALID
    assert set(error_details(error).field_violations) == {"text"}
    batch = b"\x0a\x04good" + b"\x0a\x01\xc3"  # texts[1] is a truncated sequence
    error = raw_call(gateway, "PredictBatch", batch, api_key)
    assert set(error_details(error).field_violations) == {"texts[1]"}


def test_garbage_bytes_are_invalid_argument(gateway: RunningGateway, api_key: str) -> None:
    error = raw_call(gateway, "Predict", b"\xff\xff\xff\xff", api_key)
    assert error.code() == INVALID
    assert set(error_details(error).field_violations) == {"request"}


def test_oversized_message_is_resource_exhausted(gateway: RunningGateway, api_key: str) -> None:
    error = call_error(
        gateway.stub.PredictBatch, pb.PredictBatchRequest(texts=["a" * 5000]), api_key
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert set(error_details(error).field_violations) == {"texts"}


def test_stream_rejection_ends_the_stream(gateway: RunningGateway, api_key: str) -> None:
    requests = iter([pb.PredictStreamRequest(text="")])
    with pytest.raises(grpc.RpcError) as caught:
        list(gateway.stub.PredictStream(requests, metadata=auth(api_key), timeout=5))
    assert caught.value.code() == INVALID
    assert set(error_details(caught.value).field_violations) == {"text"}


def test_valid_request_reaches_the_model(gateway: RunningGateway, api_key: str) -> None:
    # Triton is down here: a request that passes every check gets UNAVAILABLE + RetryInfo.
    error = call_error(gateway.stub.Predict, pb.PredictRequest(text="a good movie"), api_key)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_details(error).retry_after is not None
