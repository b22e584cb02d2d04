"""Coalescing: calls that wait for a slot to Triton go as one request, and each caller
still gets exactly its own answer, error and deadline. The backend here is a stand-in for
Triton that answers each text with itself as the label, after a pause."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.core.contracts import ModelInfo, RawPrediction
from gateway.core.errors import DeadlineExceeded, FieldViolation, ModelOverloaded, ValidationError
from gateway.upstream.coalescing import CoalescingBackend


class EchoBackend:
    """Answers every text with itself as the label; records each request it gets."""

    def __init__(self, pause: float = 0.05, fail: BaseException | None = None) -> None:
        self.pause = pause
        self.fail = fail
        self.requests: list[tuple[list[str], str, str | None, str]] = []

    async def ready(self, model: str, timeout: float = 2.0) -> bool:
        return True

    async def infer(
        self,
        model: str,
        texts: list[str],
        request_id: str,
        deadline: float,
        batch: bool,
        truncation: str | None = None,
        version: str = "",
    ) -> tuple[list[RawPrediction], ModelInfo]:
        self.requests.append((list(texts), request_id, truncation, version))
        await asyncio.sleep(self.pause)
        if self.fail is not None:
            raise self.fail
        if "bad" in texts:
            index = texts.index("bad")
            raise ValidationError([FieldViolation(f"texts[{index}]", "rejected")])
        return [RawPrediction(t, 1.0, [0.0, 1.0]) for t in texts], ModelInfo(model, version, "")


def later(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


async def call(backend: CoalescingBackend, texts: list[str], name: str, **kwargs: object) -> object:
    try:
        predictions, _ = await backend.infer(
            "sentiment", texts, name, kwargs.pop("deadline", later()), False, **kwargs
        )
        return [p.label for p in predictions]
    except Exception as error:
        return error


def test_calls_that_wait_for_a_slot_go_as_one_request_and_get_their_own_answers() -> None:
    async def scenario() -> None:
        echo = EchoBackend()
        backend = CoalescingBackend(echo, max_calls=1, max_texts=64)
        first = asyncio.create_task(call(backend, ["one"], "a1"))
        await asyncio.sleep(0.01)  # the slot is taken: the next ones wait
        waiting = [call(backend, [f"t{i}", f"u{i}"], f"a{i + 2}") for i in range(5)]
        answers = await asyncio.gather(first, *waiting)
        assert answers == [["one"], *[[f"t{i}", f"u{i}"] for i in range(5)]]
        assert [texts for texts, *_ in echo.requests] == [
            ["one"],
            [text for i in range(5) for text in (f"t{i}", f"u{i}")],
        ]
        assert echo.requests[1][1] == "a2+4"  # the first caller's id, and how many more
        assert (backend.shared_requests, backend.coalesced_calls) == (1, 5)

    asyncio.run(scenario())


def test_a_lone_call_is_sent_at_once_and_zero_slots_never_coalesce() -> None:
    async def scenario() -> None:
        echo = EchoBackend()
        backend = CoalescingBackend(echo, max_calls=0, max_texts=64)
        answers = await asyncio.gather(*(call(backend, [f"t{i}"], f"a{i}") for i in range(4)))
        assert answers == [[f"t{i}"] for i in range(4)]
        assert len(echo.requests) == 4 and backend.shared_requests == 0

    asyncio.run(scenario())


def test_only_calls_for_the_same_model_version_and_truncation_share_a_request() -> None:
    async def scenario() -> None:
        echo = EchoBackend()
        backend = CoalescingBackend(echo, max_calls=1, max_texts=4)
        first = asyncio.create_task(call(backend, ["x"], "a0"))
        await asyncio.sleep(0.01)
        await asyncio.gather(
            first,
            call(backend, ["a"], "a1"),
            call(backend, ["b"], "a2", truncation="head"),
            call(backend, ["c"], "a3", version="2"),
            call(backend, ["d", "e"], "a4"),
            call(backend, ["f", "g"], "a5"),  # over max_texts with a1 and a4: next request
        )
        sent = sorted(tuple(texts) for texts, *_ in echo.requests)
        assert sent == [("a", "d", "e"), ("b",), ("c",), ("f", "g"), ("x",)]

    asyncio.run(scenario())


def test_a_refused_text_fails_only_its_own_call() -> None:
    async def scenario() -> None:
        echo = EchoBackend()
        backend = CoalescingBackend(echo, max_calls=1, max_texts=64)
        first = asyncio.create_task(call(backend, ["one"], "a0"))
        await asyncio.sleep(0.01)
        good, bad, other = await asyncio.gather(
            call(backend, ["fine"], "a1"),
            call(backend, ["ok", "bad"], "a2"),
            call(backend, ["also fine"], "a3"),
        )
        await first
        assert good == ["fine"] and other == ["also fine"]
        assert isinstance(bad, ValidationError)
        assert [v.field for v in bad.violations] == ["texts[1]"]  # its own index

    asyncio.run(scenario())


def test_every_caller_gets_its_own_copy_of_a_shared_error() -> None:
    async def scenario() -> None:
        echo = EchoBackend(fail=ModelOverloaded(0.25))
        backend = CoalescingBackend(echo, max_calls=1, max_texts=64)
        first = asyncio.create_task(call(backend, ["x"], "a0"))
        await asyncio.sleep(0.01)
        errors = await asyncio.gather(*(call(backend, [f"t{i}"], f"a{i}") for i in range(3)))
        await first
        assert all(isinstance(e, ModelOverloaded) for e in errors)
        assert len({id(e) for e in errors}) == 3  # the service sets each one's audit id

    asyncio.run(scenario())


def test_a_waiting_caller_stops_at_its_own_deadline_and_the_others_are_answered() -> None:
    async def scenario() -> None:
        echo = EchoBackend(pause=0.2)
        backend = CoalescingBackend(echo, max_calls=1, max_texts=64)
        first = asyncio.create_task(call(backend, ["x"], "a0"))
        await asyncio.sleep(0.01)
        hurried, patient = await asyncio.gather(
            call(backend, ["quick"], "a1", deadline=later(0.05)),
            call(backend, ["slow"], "a2"),
        )
        await first
        assert isinstance(hurried, DeadlineExceeded)
        assert patient == ["slow"]
        assert ["quick"] not in [texts for texts, *_ in echo.requests]  # never sent

    asyncio.run(scenario())


@pytest.mark.parametrize("max_calls", [1, 3])
def test_no_more_requests_than_slots_are_ever_in_flight(max_calls: int) -> None:
    async def scenario() -> None:
        echo = EchoBackend(pause=0.01)
        backend = CoalescingBackend(echo, max_calls=max_calls, max_texts=8)
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, backend._in_flight)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        answers = await asyncio.gather(*(call(backend, [f"t{i}"], f"a{i}") for i in range(60)))
        watcher.cancel()
        assert answers == [[f"t{i}"] for i in range(60)]
        assert peak <= max_calls
        assert len(echo.requests) < 60  # they did share requests

    asyncio.run(scenario())
