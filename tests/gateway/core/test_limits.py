"""Rate limiting, load shedding and deadline propagation through a real gateway, and the
rejection metric that tells these refusals apart."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from client.sdk import error_details
from gateway.core.errors import Overloaded, RateLimited
from gateway.core.ratelimit import InFlightLimiter, TokenBucketLimiter
from store import AuditRow, make_engine
from tests.gateway.conftest import BlackHole, RunningGateway, auth

REQUEST = pb.PredictRequest(text="a good movie")


def rejections(gateway: RunningGateway) -> dict[str, float]:
    """`sentiment_gateway_rejections_total` by reason, as the gateway counted them."""
    return {
        sample.labels["reason"]: sample.value
        for metric in gateway.server.metrics.rejections.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_and_tells_when_to_retry() -> None:
    clock = Clock()
    bucket = TokenBucketLimiter(rate=2.0, burst=3, clock=clock)
    bucket.acquire("k", 3)
    with pytest.raises(RateLimited) as caught:
        bucket.acquire("k")
    assert caught.value.retry_after == pytest.approx(0.5)
    bucket.acquire("other")  # buckets are per key
    clock.now += 0.5
    bucket.acquire("k")
    clock.now += 10
    bucket.acquire("k", cost=100)  # a batch above the burst costs the whole burst


def test_in_flight_limiter_sheds_over_the_limit() -> None:
    seen: list[int] = []
    limiter = InFlightLimiter(1, seen.append)
    with limiter.slot(), pytest.raises(Overloaded), limiter.slot():
        pass
    assert seen == [1, 0] and limiter.count == 0


def test_rate_limit_gives_quota_failure_and_retry_info(start_gateway: Any) -> None:
    gateway: RunningGateway = start_gateway(rate_limit_per_second=0.5, rate_limit_burst=2)
    key = gateway.create_key("limited")
    codes = []
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as caught:
            gateway.stub.Predict(REQUEST, metadata=auth(key), timeout=5)
        codes.append(caught.value.code())
    assert codes[:2] == [grpc.StatusCode.UNAVAILABLE] * 2  # allowed; Triton is down
    assert codes[2] == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = error_details(caught.value)
    assert details.quota_violations and details.retry_after == pytest.approx(2.0, abs=0.1)
    assert rejections(gateway) == {"model_unavailable": 2, "rate_limited": 1}


def test_load_shedding_refuses_fast(start_gateway: Any, black_hole: BlackHole) -> None:
    gateway: RunningGateway = start_gateway(black_hole.url, max_in_flight=2)
    key = gateway.create_key("busy")

    def slow_call() -> grpc.StatusCode:
        try:
            gateway.stub.Predict(REQUEST, metadata=auth(key), timeout=1.5)
        except grpc.RpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(2) as pool:
        hung = [pool.submit(slow_call) for _ in range(2)]
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            gateway.stub.Predict(REQUEST, metadata=auth(key), timeout=5)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - started < 0.5
        assert error_details(caught.value).retry_after is not None
        assert [f.result() for f in hung] == [grpc.StatusCode.DEADLINE_EXCEEDED] * 2
    assert rejections(gateway) == {"overloaded": 1, "deadline_exceeded": 2}


def test_rejections_are_counted_by_reason(gateway: RunningGateway, api_key: str) -> None:
    calls = [
        (pb.PredictRequest(text="  "), auth(api_key)),
        (pb.PredictRequest(text="x" * 5000), auth(api_key)),  # over max_message_bytes
        (REQUEST, auth("snt_000000000000_" + "x" * 43)),
        (REQUEST, ()),
    ]
    for request, metadata in calls:
        with pytest.raises(grpc.RpcError):
            gateway.stub.Predict(request, metadata=metadata, timeout=5)
    assert rejections(gateway) == {
        "invalid": 1,
        "message_too_large": 1,
        "unauthenticated": 2,
    }
    metrics = gateway.server.metrics.registry
    for code, count in (("INVALID_ARGUMENT", 1), ("RESOURCE_EXHAUSTED", 1)):
        labels = {"method": "Predict", "code": code}
        assert metrics.get_sample_value("sentiment_gateway_requests_total", labels) == count


def test_deadline_is_propagated_to_triton(start_gateway: Any, black_hole: BlackHole) -> None:
    gateway: RunningGateway = start_gateway(black_hole.url, default_timeout_seconds=30)
    key = gateway.create_key("deadline")
    with pytest.raises(grpc.RpcError):  # refused after authentication: the key is known now
        gateway.stub.Predict(pb.PredictRequest(text=""), metadata=auth(key), timeout=10)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        gateway.stub.Predict(
            pb.PredictRequest(text="a good movie", request_id="deadline-1"),
            metadata=auth(key),
            timeout=0.8,
        )
    elapsed = time.monotonic() - started
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 1.5
    # The gateway itself gave up on Triton before the caller's deadline, and said so.
    audit = gateway.server.persistence.audit
    assert gateway.run(audit.drained(10))  # type: ignore[attr-defined]
    engine = make_engine(gateway.database.resolved_url())
    with Session(engine) as session:
        row = session.scalars(select(AuditRow).where(AuditRow.request_id == "deadline-1")).one()
    engine.dispose()
    assert row.status == "DEADLINE_EXCEEDED"
