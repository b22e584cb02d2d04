"""When the client retries a failed call, and how long it waits first.

A retry is worth it only for a refusal the server marks as passing: UNAVAILABLE (with or
without RetryInfo), or RESOURCE_EXHAUSTED with RetryInfo (a rate limit, an overload).
RESOURCE_EXHAUSTED without RetryInfo (a message too large) and every other code are final.
The server's RetryInfo delay is honoured, never shortened. Retries also draw on a
`RetryBudget`, so that during an overload the client adds a bounded share of calls,
instead of multiplying every call by its attempts.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import grpc

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
JITTER = 0.2
"""A RetryInfo delay is stretched by up to this share, so refused callers spread out."""


class RetryBudget:
    """Retries allowed across calls (like gRPC's retry throttling, or Finagle's budget).

    Each call earns `ratio` of a retry and each retry spends one; besides, `per_second`
    retries are earned every second whatever the traffic, so a client making few calls can
    still retry. Savings are capped at `max_tokens` (also what a new budget holds). Under a
    stream of refusals the retries are thus at most `ratio` of the calls, plus `per_second`
    a second, plus `max_tokens`. Share one budget between clients to bound them together.
    """

    def __init__(
        self,
        ratio: float = 0.1,
        per_second: float = 1.0,
        max_tokens: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or per_second < 0 or max_tokens < 1:
            raise ValueError("ratio and per_second must be >= 0 and max_tokens >= 1")
        self.ratio = ratio
        self.per_second = per_second
        self.max_tokens = max_tokens
        self._clock = clock
        self._tokens = max_tokens
        self._updated = clock()
        self._lock = threading.Lock()  # clients on several event loops may share one

    def _refill(self, earned: float) -> None:
        now = self._clock()
        elapsed, self._updated = now - self._updated, now
        self._tokens = min(self.max_tokens, self._tokens + earned + elapsed * self.per_second)

    def record_call(self) -> None:
        """A call was made (its first attempt): it earns `ratio` of a retry."""
        with self._lock:
            self._refill(self.ratio)

    def try_spend(self) -> bool:
        """Take one retry; False (nothing taken) when the budget is spent."""
        with self._lock:
            self._refill(0.0)
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def retry_delay(
    code: grpc.StatusCode, retry_after: float | None, attempt: int, backoff: float
) -> float | None:
    """How long to wait before retrying after attempt number `attempt` (1 for the first)
    failed with `code`; None: do not retry. Without RetryInfo, a full-jitter exponential
    backoff from `backoff`."""
    if code not in RETRYABLE:
        return None
    if retry_after is not None:
        return retry_after * (1 + random.uniform(0, JITTER))
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None  # not a passing refusal: the server did not say when to come back
    return random.uniform(0, backoff * 2 ** (attempt - 1))
