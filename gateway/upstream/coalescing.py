"""Request coalescing: the calls waiting for Triton go to it as one request.

`CoalescingBackend` wraps the Triton client (any `InferenceBackend`) and keeps at most
`max_calls` requests in flight to it. A call that finds a free slot is sent at once, alone,
as before; calls that arrive while every slot is taken wait in the gateway instead of in
Triton's queue, and when a slot frees, the waiting calls for the same model, version and
truncation go as one request of up to `max_texts` texts. Under load the gateway then
makes one upstream call, and Triton one request, for several callers: less CPU per call in
both (docs/benchmarks.md), while a lone call waits for nothing.

What each caller sees is unchanged: its own predictions, the version that answered, its
own deadline (it stops waiting when its time is up; the shared request runs until the
latest one's), and Triton's errors. When Triton refuses a shared request's input
(INVALID_ARGUMENT), each caller's texts are sent again alone, so a bad text fails only its
own call and the violation names its own fields. Triton's request id of a shared request
is its first caller's audit id with `+N` for the N others. A call whose trace is sampled
goes alone, so that its Triton spans stay under its own trace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.core.contracts import InferenceBackend, ModelInfo, RawPrediction
from gateway.core.errors import DeadlineExceeded, GatewayError, ValidationError
from telemetry import tracing

Answer = tuple[list[RawPrediction], ModelInfo]
Key = tuple[str, str, str | None]
"""(model, version, truncation): what calls must share to share a request."""


@dataclass(eq=False)
class _Call:
    texts: list[str]
    request_id: str
    deadline: float
    batch: bool
    answer: asyncio.Future[Answer] = field(default_factory=asyncio.Future)


class CoalescingBackend:
    """An InferenceBackend that coalesces the calls waiting for a slot (module docstring).

    Create inside the running loop. `max_calls` 0 sends every call alone.
    """

    def __init__(self, backend: InferenceBackend, max_calls: int, max_texts: int) -> None:
        self._backend = backend
        self._max_calls = max_calls
        self._max_texts = max_texts
        self._in_flight = 0
        self._waiting: dict[Key, list[_Call]] = {}
        self.shared_requests = 0
        """Upstream requests that carried more than one call."""
        self.coalesced_calls = 0
        """Calls answered by such a request."""

    async def ready(self, model: str, timeout: float = 2.0) -> bool:
        return await self._backend.ready(model, timeout)

    async def infer(
        self,
        model: str,
        texts: list[str],
        request_id: str,
        deadline: float,
        batch: bool,
        truncation: str | None = None,
        version: str = "",
    ) -> Answer:
        alone = (
            self._max_calls <= 0
            or self._in_flight < self._max_calls
            or len(texts) >= self._max_texts
            or tracing.inject() is not None
        )
        if alone:
            return await self._counted(
                lambda: self._backend.infer(
                    model, texts, request_id, deadline, batch, truncation, version
                )
            )
        call = _Call(texts, request_id, deadline, batch)
        self._waiting.setdefault((model, version, truncation), []).append(call)
        try:
            return await asyncio.wait_for(
                asyncio.shield(call.answer), max(deadline - time.monotonic(), 0.0)
            )
        except TimeoutError:
            raise DeadlineExceeded("deadline exceeded waiting for the model") from None
        finally:
            if not call.answer.done():  # gone before it was sent (cancelled, timed out)
                call.answer.cancel()

    async def _counted(self, send: Callable[[], Awaitable[Answer]]) -> Answer:
        self._in_flight += 1
        try:
            return await send()
        finally:
            self._in_flight -= 1
            self._send_waiting()

    def _send_waiting(self) -> None:
        """Take the free slots with the waiting calls, oldest group first."""
        while self._waiting and self._in_flight < self._max_calls:
            key = next(iter(self._waiting))
            group = self._waiting[key]
            calls, count = [], 0
            while group and count + len(group[0].texts) <= self._max_texts:
                call = group.pop(0)
                if not call.answer.done():  # its caller stopped waiting
                    calls.append(call)
                    count += len(call.texts)
            if not group:
                del self._waiting[key]
            if calls:
                self._in_flight += 1
                asyncio.get_running_loop().create_task(self._send(key, calls))

    async def _send(self, key: Key, calls: list[_Call]) -> None:
        try:
            await self._answer(key, calls)
        finally:
            self._in_flight -= 1
            self._send_waiting()

    async def _answer(self, key: Key, calls: list[_Call]) -> None:
        model, version, truncation = key
        texts = [text for call in calls for text in call.texts]
        request_id = calls[0].request_id
        if len(calls) > 1:
            request_id += f"+{len(calls) - 1}"
            self.shared_requests += 1
            self.coalesced_calls += len(calls)
        deadline = max(call.deadline for call in calls)
        batch = len(calls) > 1 or calls[0].batch
        try:
            predictions, info = await self._backend.infer(
                model, texts, request_id, deadline, batch, truncation, version
            )
        except ValidationError as error:
            if len(calls) == 1:
                _settle(calls[0], error=error)
                return
            # One caller's text: each caller's texts alone, so the refusal is its own.
            await asyncio.gather(*(self._answer(key, [call]) for call in calls))
            return
        except GatewayError as error:
            for call in calls:
                _settle(call, error=error)
            return
        except Exception as error:  # a bug: every caller gets it, the task does not die
            for call in calls:
                _settle(call, error=error)
            return
        start = 0
        for call in calls:
            end = start + len(call.texts)
            _settle(call, answer=(predictions[start:end], info))
            start = end


def _settle(call: _Call, answer: Answer | None = None, error: BaseException | None = None) -> None:
    """Answer one caller; an error is its own copy (the service sets its audit id on it)."""
    if call.answer.done():
        return
    if error is not None:
        call.answer.set_exception(_own_copy(error))
    elif answer is not None:
        call.answer.set_result(answer)


def _own_copy(error: BaseException) -> BaseException:
    """A shallow copy of `error` (its class, args and attributes), caused by it."""
    clone = type(error).__new__(type(error), *error.args)
    clone.__dict__.update(error.__dict__)
    clone.args = error.args
    clone.__cause__ = error
    return clone
