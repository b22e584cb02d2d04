"""Routing during a rollout, the guardrail's verdicts, the follower on a real database and
the shadow queue's bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.core.contracts import (
    CANARY,
    NONE,
    SHADOW,
    ModelInfo,
    RawPrediction,
    RolloutState,
    Route,
    ShadowRecord,
)
from gateway.core.errors import ModelUnavailable
from gateway.core.rollout import Guardrail, GuardrailSettings, RolloutFollower
from gateway.core.shadow import AGREE, DISAGREE, DROPPED, ERROR, ShadowCall, ShadowRunner
from gateway.persistence.rollouts import SqlRolloutStore
from store import make_engine, rollouts
from store.migrate import upgrade_database


def test_a_canary_routes_its_share_by_request_id_the_same_way_every_time() -> None:
    state = RolloutState(rollout_id=1, served=1, candidate=2, mode=CANARY, canary_percent=30.0)
    routes = [state.route(f"request-{i}") for i in range(20_000)]
    share = sum(r.version == "2" for r in routes) / len(routes)
    assert 0.28 < share < 0.32
    assert [state.route(f"request-{i}") for i in range(200)] == routes[:200]
    assert state.candidate_share == pytest.approx(0.3)
    everyone = RolloutState(rollout_id=1, served=1, candidate=2, mode=CANARY, canary_percent=100)
    assert {everyone.route(f"r{i}").version for i in range(100)} == {"2"}


def test_shadow_answers_with_the_served_version_and_copies_to_the_candidate() -> None:
    state = RolloutState(rollout_id=1, served=3, candidate=4, mode=SHADOW)
    assert {state.route(f"r{i}") for i in range(100)} == {Route("3", shadow="4")}
    assert state.candidate_share == 0.0
    assert RolloutState().route("r") == Route("")  # never a rollout: Triton's version
    assert RolloutState(served=4, mode=NONE).route("r") == Route("4")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_guardrail_judges_only_with_enough_calls_and_past_its_margins() -> None:
    clock = Clock()
    guardrail = Guardrail(
        GuardrailSettings(window_s=10, min_calls=20, error_margin=0.05, latency_margin_ms=100),
        clock,
    )
    for _ in range(20):
        guardrail.record("1", True, 0.010)
    for i in range(19):
        guardrail.record("2", i % 2 == 0, 0.010)
    assert guardrail.verdict("1", "2") is None  # 19 candidate calls: not enough to judge
    guardrail.record("2", False, 0.010)
    reason = guardrail.verdict("1", "2")
    assert reason is not None and "error rate 50.0%" in reason
    clock.now = 11.0  # the window moved on: nothing to judge by
    assert guardrail.verdict("1", "2") is None
    for _ in range(20):
        guardrail.record("1", True, 0.010)
        guardrail.record("2", True, 0.050)  # slower, within 100 ms
    assert guardrail.verdict("1", "2") is None
    for _ in range(5):
        guardrail.record("2", True, 0.400)
    reason = guardrail.verdict("1", "2")
    assert reason is not None and "p99 400 ms" in reason
    assert Guardrail(GuardrailSettings(enabled=False), clock).verdict("1", "2") is None


def test_the_follower_reads_the_database_and_its_guardrail_ends_the_rollout(
    tmp_path: Path,
) -> None:
    asyncio.run(follow_a_rollout(tmp_path))


async def follow_a_rollout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'rollouts.db'}")
    upgrade_database(engine)
    guardrail = Guardrail(GuardrailSettings(min_calls=3, error_margin=0.1))
    ended: list[str] = []
    follower = RolloutFollower(
        SqlRolloutStore(engine),
        guardrail,
        poll_interval_s=0.05,
        on_guardrail=lambda state, reason: ended.append(reason),
    )
    await follower.start()
    try:
        assert follower.state == RolloutState()
        started = rollouts.start(engine, 1, 2, rollouts.CANARY, 50.0, "ana")
        await asyncio.sleep(0.2)
        assert follower.state == RolloutState(started.id, 1, 2, CANARY, 50.0)
        for _ in range(3):
            follower.guardrail.record("1", True, 0.01)
            follower.guardrail.record("2", False, 0.01)
        await asyncio.sleep(0.2)
        assert len(ended) == 1 and follower.state == RolloutState(served=1)
        latest = rollouts.latest(engine)
        assert latest is not None and latest.state == rollouts.ROLLED_BACK
        assert latest.ended_by == "gateway-guardrail"
    finally:
        await follower.close()
        engine.dispose()


class SlowBackend:
    """A model server that answers after `delay`, with a fixed label or an error."""

    def __init__(self, label: str | None, delay: float = 0.0) -> None:
        self.label, self.delay = label, delay

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
        await asyncio.sleep(self.delay)
        if self.label is None:
            raise ModelUnavailable("down", 1.0)
        return [RawPrediction(self.label, 0.9, [0.1, 0.9]) for _ in texts], ModelInfo(
            model, version, "run"
        )

    async def ready(self, model: str, timeout: float = 2.0) -> bool:
        return True


class ListSink:
    def __init__(self) -> None:
        self.records: list[ShadowRecord] = []

    async def add(self, records: list[ShadowRecord]) -> None:
        self.records.extend(records)


def shadow_call(audit_id: str, answered_label: str = "positive") -> ShadowCall:
    from gateway.core.contracts import Prediction

    answered = [Prediction(answered_label, 0.9, {}, "sentiment", "1", "run")]
    return ShadowCall(audit_id, 7, "sentiment", "1", "2", ["text"], None, answered)


def test_shadow_copies_are_compared_stored_and_dropped_when_the_queue_is_full() -> None:
    asyncio.run(shadow_copies())


async def shadow_copies() -> None:
    outcomes: list[str] = []
    sink = ListSink()
    runner = ShadowRunner(
        SlowBackend("positive", delay=0.05),
        sink,
        ["negative", "positive"],
        max_queued=2,
        workers=1,
        on_outcome=lambda call, outcome, s: outcomes.append(outcome),
    )
    accepted = [
        runner.submit(shadow_call(f"a{i}", "positive" if i else "negative")) for i in range(6)
    ]
    await runner.close()
    # One in the worker's hands at once at most, two queued: the rest dropped, never waited for.
    assert accepted.count(False) == runner.dropped == outcomes.count(DROPPED) >= 3
    stored = {r.audit_id: r for r in sink.records}
    assert len(stored) == accepted.count(True)
    assert all(r.model_version == "2" and r.rollout_id == 7 for r in stored.values())
    assert stored["a0"].agree is False and outcomes.count(DISAGREE) == 1
    assert outcomes.count(AGREE) == accepted.count(True) - 1

    failing = ShadowRunner(
        SlowBackend(None),
        sink,
        ["negative", "positive"],
        on_outcome=lambda call, outcome, s: outcomes.append(outcome),
    )
    failing.submit(shadow_call("broken"))
    await failing.close()
    record = next(r for r in sink.records if r.audit_id == "broken")
    assert record.agree is None and record.status == "UNAVAILABLE" and outcomes[-1] == ERROR
