"""How many times a gateway call reaches Triton, and what the caller is told, on real
components: a real gateway, a real Triton whose queue overflows, a dead Triton, and a
connection to Triton that freezes (keepalive). Calls reaching Triton are counted by a
gRPC proxy in front of it (Triton's own statistics do not count the calls its full queue
refuses)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from client.sdk import error_details
from gateway.core.errors import DeadlineExceeded
from gateway.upstream.triton_client import TritonClient
from serving.tritonserver import TritonServer
from tests.gateway.conftest import RunningGateway, auth, dead_triton_url
from tests.gateway.core.test_limits import rejections
from tests.gateway.upstream.conftest import CountingProxy, FreezableProxy

OK = grpc.StatusCode.OK
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


def calls_for_requests(proxy: CountingProxy) -> dict[str, int]:
    """The calls that reached Triton for requests (not the health checks' ModelReady)."""
    return {method: n for method, n in proxy.calls.items() if method != "ModelReady"}


def predict(gateway: RunningGateway, key: str) -> tuple[grpc.StatusCode, float | None]:
    """One Predict call: its code, and the RetryInfo delay it came with."""
    try:
        gateway.stub.Predict(pb.PredictRequest(text="a good movie"), metadata=auth(key), timeout=10)
    except grpc.RpcError as err:
        return err.code(), error_details(err).retry_after
    return OK, None


@pytest.mark.triton
def test_a_full_triton_queue_is_refused_with_retry_info_after_one_attempt(
    start_gateway: Any, busy_triton: TritonServer, counting_proxy: Any
) -> None:
    proxy: CountingProxy = counting_proxy(busy_triton.grpc_url)
    gateway = start_gateway(proxy.url, triton_retries=1, triton_overloaded_retry_after_seconds=0.4)
    key = gateway.create_key("busy")
    assert predict(gateway, key) == (OK, None)  # the model's config is cached from here on
    proxy.calls.clear()
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: predict(gateway, key), range(8)))
    codes = Counter(code for code, _ in outcomes)
    # One call runs, one waits in Triton's queue of one, the others are refused at once.
    assert codes[OK] >= 1 and codes[EXHAUSTED] >= 4 and set(codes) == {OK, EXHAUSTED}, codes
    assert [delay for code, delay in outcomes if code == EXHAUSTED] == pytest.approx(
        [0.4] * codes[EXHAUSTED]
    )
    assert calls_for_requests(proxy) == {"ModelInfer": 8}  # exactly one attempt per call
    assert rejections(gateway).get("model_overloaded") == codes[EXHAUSTED]


def test_a_dead_triton_is_unavailable_with_retry_info_after_two_attempts(
    start_gateway: Any, counting_proxy: Any
) -> None:
    """The proxy answers UNAVAILABLE for the dead Triton behind it, as a load balancer
    would: a connection-level failure, retried once, then given up."""
    proxy: CountingProxy = counting_proxy(dead_triton_url())
    gateway = start_gateway(proxy.url, triton_retries=1, triton_unavailable_retry_after_seconds=2.5)
    key = gateway.create_key("dead")
    started = time.monotonic()
    assert predict(gateway, key) == (UNAVAILABLE, pytest.approx(2.5))
    assert time.monotonic() - started < 2
    assert calls_for_requests(proxy) == {"ModelConfig": 2}  # model info, then nothing
    proxy.calls.clear()
    assert predict(gateway, key) == (UNAVAILABLE, pytest.approx(2.5))
    assert calls_for_requests(proxy) == {"ModelConfig": 2}


def test_nothing_listening_is_unavailable_with_retry_info(start_gateway: Any) -> None:
    gateway = start_gateway(triton_retries=1)
    key = gateway.create_key("refused")
    started = time.monotonic()
    code, delay = predict(gateway, key)
    assert (code, delay) == (UNAVAILABLE, pytest.approx(1.0))
    assert time.monotonic() - started < 2


async def model_config_after_freeze(
    triton: TritonServer, keepalive: float, timeout: float, deadline_s: float
) -> tuple[str, float, int]:
    """Ask Triton for the model's config over a proxied connection, freeze that
    connection, ask again: the outcome, how long the second call took, and how many
    connections the proxy saw."""
    proxy = await FreezableProxy(triton.grpc_url).start()
    client = TritonClient(proxy.url, info_ttl=1e-6, keepalive=keepalive, keepalive_timeout=timeout)
    try:
        await client.run_ids("sentiment", time.monotonic() + 10)
        proxy.freeze()
        started = time.monotonic()
        try:
            await client.run_ids("sentiment", time.monotonic() + deadline_s)
            outcome = "ok"
        except DeadlineExceeded:
            outcome = "deadline"
        return outcome, time.monotonic() - started, proxy.connections
    finally:
        await client.close()
        await proxy.close()


@pytest.mark.triton
def test_keepalive_drops_a_frozen_connection_and_the_call_is_retried_on_a_new_one(
    busy_triton: TritonServer,
) -> None:
    frozen = model_config_after_freeze(busy_triton, keepalive=0.5, timeout=0.5, deadline_s=5)
    outcome, elapsed, connections = asyncio.run(frozen)
    assert (outcome, connections) == ("ok", 2)
    assert elapsed < 2.5  # keepalive time + ping timeout + backoff, not the deadline
    # Without keepalive (pings, and their timeout, an hour) the call waits for its deadline.
    frozen = model_config_after_freeze(busy_triton, keepalive=3600, timeout=3600, deadline_s=2)
    outcome, elapsed, connections = asyncio.run(frozen)
    assert (outcome, connections) == ("deadline", 1)
