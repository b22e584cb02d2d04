from __future__ import annotations

import uuid
from datetime import UTC, datetime

from persistence_helpers import make_record, run
from sqlalchemy import Engine

from gateway.core.contracts import DriftSample, TextFeatures
from gateway.persistence.drift import SqlDriftSink, should_sample


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
