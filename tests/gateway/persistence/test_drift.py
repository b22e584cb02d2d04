from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from persistence_helpers import make_record, run
from sqlalchemy import Engine

from gateway.core.contracts import DriftSample, TextFeatures
from gateway.persistence.breaker import CircuitBreaker
from gateway.persistence.drift import SqlDriftSink, should_sample
from store import make_engine, upgrade_database


def test_sampling_is_deterministic_and_close_to_the_rate() -> None:
    ids = [str(uuid.UUID(int=i * 7919 + 17)) for i in range(10_000)]
    for rate in (0.01, 0.1, 0.5):
        chosen = [should_sample(i, rate) for i in ids]
        assert chosen == [should_sample(i, rate) for i in ids]
        assert abs(sum(chosen) / len(ids) - rate) < 0.01 + rate * 0.1
    assert not any(should_sample(i, 0.0) for i in ids[:100])
    assert all(should_sample(i, 1.0) for i in ids[:100])
    # A higher rate keeps every request a lower rate chose (nested samples).
    assert all(should_sample(i, 0.2) for i in ids if should_sample(i, 0.1))


def test_sink_stores_samples_once(engine: Engine) -> None:
    prediction = make_record("x").predictions[0]
    samples = [
        DriftSample(
            request_id="req-d",
            index=i,
            sampled_at=datetime.now(UTC),
            features=TextFeatures(
                text_length=10 + i, token_count=3, unknown_token_rate=0.0, non_ascii_share=0.1
            ),
            prediction=prediction,
        )
        for i in range(3)
    ]

    async def body() -> SqlDriftSink:
        sink = SqlDriftSink(engine)
        await sink.add(samples)
        await sink.add(samples[:1])  # the same sample again is ignored
        await sink.close()
        return sink

    sink = run(body())
    assert sink.stored == 4 and sink.dropped == 0
    rows = sink.fetch("req-d")
    assert [(r.index, r.text_length, r.label) for r in rows] == [
        (0, 10, "positive"),
        (1, 11, "positive"),
        (2, 12, "positive"),
    ]
    assert rows[0].probabilities == prediction.probabilities
    assert rows[0].model_version == "3" and rows[0].mlflow_run_id == "run-1"


def test_samples_wait_out_an_outage_behind_the_breaker(tmp_path: Path) -> None:
    """A database the sink cannot write (here: a real SQLite file whose tables are not
    there yet) opens the breaker once: nothing is dropped, nothing retried before the
    cooldown; once the tables exist, the trial stores every held sample."""
    engine = make_engine(f"sqlite:///{tmp_path / 'later.db'}")
    prediction = make_record("x").predictions[0]
    features = TextFeatures(
        text_length=5, token_count=3, unknown_token_rate=0.0, non_ascii_share=0.0
    )
    samples = [
        DriftSample(f"held-{i}", 0, datetime.now(UTC), features, prediction) for i in range(5)
    ]

    async def body() -> SqlDriftSink:
        sink = SqlDriftSink(engine, breaker=CircuitBreaker(initial_s=0.3, max_s=0.3))
        await sink.add(samples[:2])
        while not sink.breaker.is_open:
            await asyncio.sleep(0.01)
        assert 0 < sink.breaker.seconds_until_trial() <= 0.3
        await sink.add(samples[2:])  # queued behind the held batch, not tried meanwhile
        await asyncio.sleep(0.1)
        assert sink.breaker.failures == 1 and sink.stored == 0 and sink.dropped == 0
        await asyncio.to_thread(upgrade_database, engine)
        await sink.close(timeout=10)
        return sink

    try:
        sink = run(body())
        assert sink.stored == 5 and sink.dropped == 0
        assert sink.breaker.opened == 1 and not sink.breaker.is_open
        assert [len(sink.fetch(s.request_id)) for s in samples] == [1] * 5
    finally:
        engine.dispose()


def test_breaker_cooldown_doubles_up_to_its_maximum() -> None:
    now = [0.0]
    breaker = CircuitBreaker(initial_s=1.0, max_s=3.0, clock=lambda: now[0])
    assert not breaker.is_open and breaker.seconds_until_trial() == 0
    assert breaker.failure() is True  # opened
    assert [breaker.failure(), breaker.failure()] == [False, False]  # still open
    assert breaker.seconds_until_trial() == 3.0  # 1, 2, then capped at 3
    now[0] = 3.0
    assert breaker.seconds_until_trial() == 0  # the trial may go
    assert breaker.success() is True and not breaker.is_open
    assert breaker.failure() is True and breaker.seconds_until_trial() == 1.0  # reset


def test_samples_still_held_at_close_are_counted_dropped(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'never.db'}")  # no tables: unreachable
    prediction = make_record("x").predictions[0]
    features = TextFeatures(
        text_length=5, token_count=3, unknown_token_rate=0.0, non_ascii_share=0.0
    )
    samples = [
        DriftSample(f"lost-{i}", 0, datetime.now(UTC), features, prediction) for i in range(3)
    ]

    async def body() -> SqlDriftSink:
        sink = SqlDriftSink(engine, batch_size=2)
        await sink.add(samples)
        await sink.close(timeout=0.3)
        return sink

    try:
        sink = run(body())
        assert sink.stored == 0 and sink.dropped == 3 and sink.breaker.opened == 1
    finally:
        engine.dispose()
