"""Per-key token buckets (rate limiting) and an in-flight limiter (load shedding).

Both answer at once instead of queueing: a refused request costs microseconds, which is
the point of shedding load. grpcio's `maximum_concurrent_rpcs` is not used: it has been
unreliable in grpc.aio, and it cannot tell health checks from predictions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gateway.core.errors import Overloaded, RateLimited


class TokenBucketLimiter:
    """`rate` tokens per second per key, at most `burst` saved; one token per text."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key_id: str, cost: int = 1) -> None:
        """Take `cost` tokens (capped at the burst) or raise RateLimited with a retry delay."""
        cost = min(cost, self.burst)
        now = self._clock()
        tokens, last = self._buckets.get(key_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < cost:
            self._buckets[key_id] = (tokens, now)
            raise RateLimited(key_id, retry_after=(cost - tokens) / self.rate)
        self._buckets[key_id] = (tokens - cost, now)


class InFlightLimiter:
    """At most `limit` requests at once; the next one is refused with Overloaded."""

    def __init__(self, limit: int, on_change: Callable[[int], None] | None = None) -> None:
        self.limit = limit
        self.count = 0
        self._on_change = on_change

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.count >= self.limit:
            raise Overloaded()
        self.count += 1
        self._notify()
        try:
            yield
        finally:
            self.count -= 1
            self._notify()

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change(self.count)
