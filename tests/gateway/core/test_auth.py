"""Authentication: bearer metadata -> key store; health is exempt."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from tests.gateway.conftest import RunningGateway, auth

REQUEST = pb.PredictRequest(text="a good movie")


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "good-key-but-no-scheme"),),
        (("authorization", "Basic dXNlcjpwYXNz"),),
        (("authorization", "Bearer "),),
        (("authorization", "Bearer not-a-key"),),
    ],
)
def test_rejected_credentials(gateway: RunningGateway, metadata: tuple[tuple[str, str]]) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(REQUEST, metadata=metadata, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "not-a-key" not in (caught.value.details() or "")


def test_valid_key_passes_and_revoked_key_is_denied(gateway: RunningGateway) -> None:
    key = gateway.create_key("client-a")
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(REQUEST, metadata=auth(key), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # past auth: Triton is down
    gateway.revoke_key("client-a")
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(REQUEST, metadata=auth(key), timeout=5)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A wrong secret under the revoked key's id learns nothing: still UNAUTHENTICATED.
    forged = key.rsplit("_", 1)[0] + "_" + "x" * 43
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(REQUEST, metadata=auth(forged), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_needs_no_key_and_reports_triton_down(gateway: RunningGateway) -> None:
    health = health_pb2_grpc.HealthStub(gateway.channel)
    for service in ("", "sentiment.v1.SentimentService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
