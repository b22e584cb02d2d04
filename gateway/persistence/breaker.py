"""A circuit breaker for a background writer's database calls.

Closed, calls go through. A failure opens it: no call for a cooldown that doubles with each
failure in a row (up to `max_s`), then one trial call (half-open) that closes it again on
success. A writer that waits on `wait_until_allowed` instead of trying every item spends
no connect timeout per item on a database that is down or hung, logs a transition instead
of every failure, and keeps what it could not write until the trial succeeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class CircuitBreaker:
    """Open after a failure, for `initial_s` doubling up to `max_s`; closed after a success."""

    def __init__(
        self,
        initial_s: float = 1.0,
        max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._clock = clock
        self._cooldown_s = 0.0
        self._retry_at = 0.0
        self.failures = 0
        """Failures in a row (0 when closed)."""
        self.opened = 0
        """How many times it opened so far."""

    @property
    def is_open(self) -> bool:
        return self.failures > 0

    def seconds_until_trial(self) -> float:
        """0 when a call may go through now (closed, or open past its cooldown)."""
        return max(self._retry_at - self._clock(), 0.0) if self.is_open else 0.0

    async def wait_until_allowed(self) -> None:
        while (wait := self.seconds_until_trial()) > 0:
            await asyncio.sleep(wait)

    def success(self) -> bool:
        """Record a call that worked; True when that closed the breaker."""
        was_open = self.is_open
        self.failures = 0
        self._cooldown_s = 0.0
        return was_open

    def failure(self) -> bool:
        """Record a failed call; True when that opened the breaker (it was closed)."""
        self.failures += 1
        self._cooldown_s = min(max(self._cooldown_s * 2, self._initial_s), self._max_s)
        self._retry_at = self._clock() + self._cooldown_s
        if self.failures == 1:
            self.opened += 1
            return True
        return False
