"""Per-key token buckets (rate limiting) and an in-flight limiter (load shedding).

Both answer at once instead of queueing: a refused request costs microseconds, which is
the point of shedding load. grpcio's `maximum_concurrent_rpcs` is not used: it has been
unreliable in grpc.aio, and it cannot tell health checks from predictions.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gateway.core.errors import Overloaded, RateLimited


class TokenBucketLimiter:
    """`rate` tokens per second per key, at most `burst` saved; one token per text.

    At most `max_keys` buckets are kept (the least recently used go first): made-up keys
    or peers cannot grow it without bound, and an evicted bucket was full or refilling.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def acquire(self, key_id: str, cost: int = 1) -> None:
        """Take `cost` tokens (capped at the burst) or raise RateLimited with a retry delay."""
        cost = min(cost, self.burst)
        now = self._clock()
        tokens = self._tokens(key_id, now)
        if tokens < cost:
            self._store(key_id, tokens, now)
            raise RateLimited(key_id, retry_after=(cost - tokens) / self.rate)
        self._store(key_id, tokens - cost, now)


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


class KeyedInFlightLimiter:
    """At most `limit` requests at once per key: one caller cannot take every slot of the
    global limit. Counts are kept only for keys with requests in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        count = self._counts.get(key, 0)
        if count >= self.limit:
            raise Overloaded(message=f"over {self.limit} requests in flight for this API key")
        self._counts[key] = count + 1
        try:
            yield
        finally:
            left = self._counts[key] - 1
            if left:
                self._counts[key] = left
            else:
                del self._counts[key]
