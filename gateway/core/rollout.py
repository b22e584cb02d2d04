"""Which model version answers a call during a rollout, and the guardrail that ends one.

The rollout state lives in the database (`store.rollouts`); `RolloutFollower` re-reads it
every `poll_interval_s` (so every replica follows a `sentiment rollout` command within
that time, without a restart) and keeps the last state it read while the database is
away. `RolloutState.route` picks the version for a call: deterministic by request id, so
a retried call goes to the version its first attempt went to. `Guardrail` keeps each
version's recent outcomes and latencies; the follower asks it after every read and ends
the rollout (rolled back) when the candidate is worse than the served version by more
than the configured margins. docs/rollouts.md tells the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.core.contracts import NONE, RolloutState, RolloutStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardrailSettings:
    """When the guardrail rolls a rollout back: over the last `window_s`, with at least
    `min_calls` calls of each version, the candidate's error rate exceeds the served
    version's by more than `error_margin` (a fraction), or its p99 latency by more than
    `latency_margin_ms`."""

    enabled: bool = True
    window_s: float = 60.0
    min_calls: int = 50
    error_margin: float = 0.05
    latency_margin_ms: float = 250.0


MAX_SAMPLES = 10_000
"""Calls kept per version: the newest within the window. Bounds the memory and the sort of
a verdict at any call rate."""


class Guardrail:
    """Recent outcomes per version, and the verdict on a candidate."""

    def __init__(
        self, settings: GuardrailSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._calls: dict[str, deque[tuple[float, bool, float]]] = {}
        """(when, ok, latency in seconds) of each version's recent calls"""

    def record(self, version: str, ok: bool, seconds: float) -> None:
        if version:
            calls = self._calls.setdefault(version, deque(maxlen=MAX_SAMPLES))
            calls.append((self._clock(), ok, seconds))

    def reset(self) -> None:
        self._calls.clear()

    def stats(self, version: str) -> tuple[int, float, float]:
        """(calls, error rate, p99 latency in ms) over the window."""
        oldest = self._clock() - self.settings.window_s
        calls = [c for c in self._calls.get(version, ()) if c[0] >= oldest]
        if not calls:
            return 0, 0.0, 0.0
        errors = sum(1 for _, ok, _ in calls if not ok)
        latencies = sorted(seconds for _, ok, seconds in calls if ok)
        p99 = latencies[max(math.ceil(0.99 * len(latencies)) - 1, 0)] if latencies else 0.0
        return len(calls), errors / len(calls), p99 * 1000.0

    def verdict(self, served: str, candidate: str) -> str | None:
        """Why the candidate must go (None: it may stay)."""
        settings = self.settings
        if not settings.enabled:
            return None
        served_calls, served_errors, served_p99 = self.stats(served)
        calls, errors, p99 = self.stats(candidate)
        if min(calls, served_calls) < settings.min_calls:
            return None
        if errors > served_errors + settings.error_margin:
            return (
                f"candidate {candidate} error rate {errors:.1%} over served {served} "
                f"{served_errors:.1%} by more than {settings.error_margin:.1%} "
                f"({calls} and {served_calls} calls in {settings.window_s:g}s)"
            )
        if p99 > served_p99 + settings.latency_margin_ms:
            return (
                f"candidate {candidate} p99 {p99:.0f} ms over served {served} "
                f"{served_p99:.0f} ms by more than {settings.latency_margin_ms:g} ms "
                f"({calls} and {served_calls} calls in {settings.window_s:g}s)"
            )
        return None


class RolloutFollower:
    """The replica's view of the rollout state, refreshed in the background."""

    def __init__(
        self,
        store: RolloutStore,
        guardrail: Guardrail,
        poll_interval_s: float = 2.0,
        on_state: Callable[[RolloutState], None] = lambda state: None,
        on_guardrail: Callable[[RolloutState, str], None] = lambda state, reason: None,
    ) -> None:
        self.store = store
        self.guardrail = guardrail
        self.poll_interval_s = poll_interval_s
        self.state = RolloutState()
        self._on_state = on_state
        self._on_guardrail = on_guardrail
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def record(self, version: str, ok: bool, seconds: float) -> None:
        """One call's outcome for the guardrail; kept only while a rollout is active."""
        if self.state.mode != NONE:
            self.guardrail.record(version, ok, seconds)

    async def start(self) -> None:
        """Read the state once (keeping the default when the database does not answer),
        then follow it in the background."""
        await self.refresh()
        self._task = asyncio.create_task(self._follow())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        try:
            state = await self.store.current()
        except Exception as err:  # keep routing by the last state read
            if not self._failing:  # once per outage, not at every poll
                log.warning("rollout state not read (%s); keeping the last one", err)
            self._failing = True
            return
        if self._failing:
            log.warning("rollout state read again")
            self._failing = False
        if state != self.state:
            if state.rollout_id != self.state.rollout_id:
                self.guardrail.reset()
            log.info("rollout state: %s", state)
            self.state = state
        self._on_state(state)
        await self._check()

    async def _check(self) -> None:
        state = self.state
        if state.mode == NONE or state.rollout_id is None or state.candidate is None:
            return
        reason = self.guardrail.verdict(str(state.served), str(state.candidate))
        if reason is None:
            return
        log.error("guardrail: rolling back rollout %s: %s", state.rollout_id, reason)
        try:
            ended = await self.store.end_by_guardrail(state.rollout_id, reason)
        except Exception as err:
            log.error("guardrail could not end rollout %s: %s", state.rollout_id, err)
            return
        if ended:
            self._on_guardrail(state, reason)
        # Route to the served version at once, whoever ended it.
        self.state = RolloutState(served=state.served)
        self.guardrail.reset()
        self._on_state(self.state)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            await self.refresh()
