"""The client's retries against a real gRPC server that refuses as each test scripts it:
RetryInfo honoured, RESOURCE_EXHAUSTED without it final, attempts per call capped, and
the retry budget bounding the attempts of many calls under a stream of refusals; the
truncation choice sent as the request field."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from api.generated.sentiment.v1 import sentiment_pb2 as pb
from client.retry import JITTER, RetryBudget
from client.sdk import SentimentClient, truncation_value
from tests.client.conftest import Refusal, scripted_server

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


async def refused_calls(client: SentimentClient, calls: int) -> set[grpc.StatusCode]:
    codes = set()
    for _ in range(calls):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.predict("a fine film")
        codes.add(caught.value.code())
    return codes


def test_the_budget_bounds_retries_under_a_stream_of_overload_refusals() -> None:
    """Every attempt is refused (RESOURCE_EXHAUSTED, retry in 1 ms): without a budget each
    call would make 3 attempts; with it the retries stay within ratio x calls, plus the
    per-second allowance, plus what the budget held at the start."""
    calls, budget = 200, RetryBudget(ratio=0.1, per_second=1.0, max_tokens=5)

    async def scenario() -> tuple[int, float]:
        async with (
            scripted_server(lambda _: Refusal(EXHAUSTED, 0.001)) as server,
            SentimentClient(server.target, "k", retries=2, retry_budget=budget) as c,
        ):
            started = time.monotonic()
            assert await refused_calls(c, calls) == {EXHAUSTED}
            return server.calls, time.monotonic() - started

    attempts, elapsed = asyncio.run(scenario())
    retries = attempts - calls
    assert 0 < retries <= 5 + 0.1 * calls + 1.0 * elapsed + 1, (attempts, elapsed)
    assert attempts < 1.2 * calls + 5 + elapsed + 1 < 3 * calls


def test_resource_exhausted_without_retry_info_is_not_retried() -> None:
    async def scenario() -> int:
        async with (
            scripted_server(lambda _: Refusal(EXHAUSTED)) as server,
            SentimentClient(server.target, "k") as client,
        ):
            assert await refused_calls(client, 10) == {EXHAUSTED}
            return server.calls

    assert asyncio.run(scenario()) == 10


def test_a_call_makes_at_most_retries_plus_one_attempts() -> None:
    budget = RetryBudget(max_tokens=100)

    async def scenario() -> list[int]:
        async with (
            scripted_server(lambda _: Refusal(UNAVAILABLE, 0.001)) as server,
            SentimentClient(server.target, "k", retries=2, retry_budget=budget) as c,
        ):
            assert await refused_calls(c, 5) == {UNAVAILABLE}
            return [len(times) for times in server.attempts.values()]

    assert asyncio.run(scenario()) == [3] * 5


def test_the_retry_info_delay_is_waited_before_the_retry() -> None:
    def script(attempt: int) -> Refusal | None:
        return Refusal(UNAVAILABLE, 0.3) if attempt == 1 else None

    async def scenario() -> list[float]:
        async with (
            scripted_server(script) as server,
            SentimentClient(server.target, "k") as client,
        ):
            answer = await client.predict("a fine film", request_id="r1")
            assert answer.request_id == "r1"
            return server.attempts["r1"]

    first, second = asyncio.run(scenario())
    assert 0.3 <= second - first < 0.3 * (1 + JITTER) + 0.2


def test_a_retry_info_delay_past_the_deadline_fails_at_once() -> None:
    async def scenario() -> tuple[int, float]:
        async with (
            scripted_server(lambda _: Refusal(UNAVAILABLE, 5.0)) as server,
            SentimentClient(server.target, "k", timeout=1.0) as client,
        ):
            started = time.monotonic()
            assert await refused_calls(client, 1) == {UNAVAILABLE}
            return server.calls, time.monotonic() - started

    attempts, elapsed = asyncio.run(scenario())
    assert attempts == 1 and elapsed < 0.5


def test_predict_sends_the_truncation_asked_for_and_leaves_it_unset_otherwise() -> None:
    async def scenario() -> list[int]:
        async with (
            scripted_server(lambda _: None) as server,
            SentimentClient(server.target, "k") as client,
        ):
            await client.predict("a long review", truncation="head_tail")
            await client.predict("a long review")
            return [request.truncation for request in server.requests]

    assert asyncio.run(scenario()) == [pb.TRUNCATION_HEAD_TAIL, pb.TRUNCATION_UNSPECIFIED]


def test_truncation_choices_map_to_the_proto_enum() -> None:
    assert truncation_value(None) == pb.TRUNCATION_UNSPECIFIED
    assert truncation_value("none") == pb.TRUNCATION_NONE
    assert truncation_value("head") == pb.TRUNCATION_HEAD
    assert truncation_value("head_tail") == pb.TRUNCATION_HEAD_TAIL
    with pytest.raises(ValueError, match="truncation must be one of"):
        truncation_value("middle")  # type: ignore[arg-type]
