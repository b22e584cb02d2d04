"""Shadow traffic: a copy of an answered call goes to the candidate version, off the path.

`submit` never waits: a copy that finds the bounded queue full is dropped and counted, so
shadowing never slows or fails the call that was answered. A few workers send the copies
to the model server (each with its own deadline), compare the candidate's labels with
the answered ones and hand a `ShadowRecord` to the sink (its own row, linked to the
call's audit id). The outcome of each copy goes to `on_outcome` (metrics, guardrail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.core.contracts import (
    InferenceBackend,
    Prediction,
    ShadowRecord,
    ShadowSink,
    to_predictions,
)
from gateway.core.errors import GatewayError

log = logging.getLogger(__name__)

AGREE, DISAGREE, ERROR, DROPPED = "agree", "disagree", "error", "dropped"


@dataclass(frozen=True)
class ShadowCall:
    """An answered call to copy to the candidate."""

    audit_id: str
    rollout_id: int
    model: str
    served_version: str
    candidate: str
    texts: list[str]
    truncation: str | None
    answered: list[Prediction]


class ShadowRunner:
    """A bounded queue of shadow copies and the workers that send them."""

    def __init__(
        self,
        backend: InferenceBackend,
        sink: ShadowSink,
        labels: list[str],
        max_queued: int = 256,
        workers: int = 2,
        timeout_s: float = 10.0,
        on_outcome: Callable[[ShadowCall, str, float], None] = lambda call, outcome, s: None,
    ) -> None:
        self.backend = backend
        self.sink = sink
        self.labels = labels
        self.timeout_s = timeout_s
        self._on_outcome = on_outcome
        self._queue: asyncio.Queue[ShadowCall] = asyncio.Queue(maxsize=max_queued)
        self._workers = [asyncio.create_task(self._work()) for _ in range(workers)]
        self.dropped = 0

    def submit(self, call: ShadowCall) -> bool:
        """Queue a copy; False (dropped, counted) when the queue is full."""
        try:
            self._queue.put_nowait(call)
        except asyncio.QueueFull:
            self.dropped += 1
            self._on_outcome(call, DROPPED, 0.0)
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for up to `timeout` s), then stop the workers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            call = await self._queue.get()
            try:
                await self._send(call)
            except Exception:  # a worker must outlive any one copy
                log.exception("shadow copy of %s failed", call.audit_id)
            finally:
                self._queue.task_done()

    async def _send(self, call: ShadowCall) -> None:
        started = time.perf_counter()
        status, error, predictions, agree = "OK", None, [], None
        try:
            raw, info = await self.backend.infer(
                call.model,
                call.texts,
                f"{call.audit_id}-shadow",
                time.monotonic() + self.timeout_s,
                batch=len(call.texts) > 1,
                truncation=call.truncation,
                version=call.candidate,
            )
            predictions = to_predictions(raw, info, self.labels)
            agree = [p.label for p in predictions] == [p.label for p in call.answered]
        except GatewayError as err:
            status, error = err.code.name, err.message
        seconds = time.perf_counter() - started
        outcome = ERROR if agree is None else AGREE if agree else DISAGREE
        self._on_outcome(call, outcome, seconds)
        record = ShadowRecord(
            shadow_id=uuid.uuid4().hex,
            audit_id=call.audit_id,
            rollout_id=call.rollout_id,
            model_name=call.model,
            served_version=call.served_version,
            model_version=call.candidate,
            created_at=datetime.now(UTC),
            status=status,
            error=error,
            predictions=predictions,
            agree=agree,
            latency_ms=seconds * 1000.0,
        )
        await self.sink.add([record])
