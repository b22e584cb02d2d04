"""The retry budget and the retry decision, on a clock the test moves."""

from __future__ import annotations

import grpc
import pytest

from client.retry import JITTER, RetryBudget, retry_delay


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def spend_all(budget: RetryBudget) -> int:
    spent = 0
    while budget.try_spend():
        spent += 1
    return spent


def test_a_new_budget_holds_max_tokens_then_earns_by_calls_and_time() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.1, per_second=1.0, max_tokens=5, clock=clock)
    assert spend_all(budget) == 5
    for _ in range(20):
        budget.record_call()
    assert spend_all(budget) == 2  # 20 calls x 0.1
    clock.now += 3.0
    assert spend_all(budget) == 3  # 3 s x 1 a second
    clock.now += 3600.0
    assert spend_all(budget) == 5  # savings capped


def test_the_decision_follows_the_code_and_the_retry_info() -> None:
    exhausted, unavailable = grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE
    assert retry_delay(exhausted, None, 1, 0.1) is None
    assert retry_delay(grpc.StatusCode.INVALID_ARGUMENT, 1.0, 1, 0.1) is None
    assert retry_delay(grpc.StatusCode.DEADLINE_EXCEEDED, None, 1, 0.1) is None
    for code in (exhausted, unavailable):
        delay = retry_delay(code, 0.5, 1, 0.1)
        assert delay is not None and 0.5 <= delay <= 0.5 * (1 + JITTER)
    delay = retry_delay(unavailable, None, 3, 0.1)
    assert delay is not None and 0 <= delay <= 0.4


def test_a_budget_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryBudget(max_tokens=0)
