"""Failures the persistence layer survives still show up as Prometheus counters.

A record PostgreSQL refuses (a NUL character in its text key) is dead-lettered, and
drift samples beyond the sink's queue are dropped: both are counted on the gateway's
metrics registry, read from the audit log and the drift sink at scrape time.
"""

from __future__ import annotations

from pathlib import Path

from persistence_helpers import make_record, run
from prometheus_client import generate_latest
from sqlalchemy import Engine

from gateway.core.contracts import DriftSample
from gateway.metrics import GatewayMetrics
from gateway.persistence.audit import SpooledAuditLog
from gateway.persistence.drift import SqlDriftSink
from gateway.persistence.keys import ApiKeyStore
from gateway.server import persistence_readings
from store import make_engine, upgrade_database


def counter(metrics: GatewayMetrics, name: str) -> float:
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line.startswith(f"{name}_total "):
            return float(line.split()[1])
    raise AssertionError(f"{name}_total not exported")


def test_dead_lettered_records_and_dropped_samples_are_exported(
    postgres_url: str, tmp_path: Path
) -> None:
    engine: Engine = make_engine(postgres_url)
    upgrade_database(engine)
    metrics = GatewayMetrics()

    async def body() -> None:
        audit = await SpooledAuditLog.open(engine, tmp_path / "spool", instance_id="one")
        drift = SqlDriftSink(engine, max_queued=1)
        keys = ApiKeyStore(engine)
        metrics.watch_persistence(persistence_readings(audit, drift, keys, 1 << 20))
        assert counter(metrics, "sentiment_gateway_audit_dead_lettered") == 0
        await audit.append(make_record("metrics-ok"))
        await audit.append(make_record("metrics-\x00nul"))
        assert await audit.drained(20)
        record = make_record("metrics-drift")
        sample = DriftSample(
            "metrics-drift", 0, record.received_at, _features(), record.predictions[0]
        )
        await drift.add([sample, sample, sample])  # one fits the queue, two are dropped
        assert counter(metrics, "sentiment_gateway_drift_samples_dropped") == 2
        assert counter(metrics, "sentiment_gateway_drift_database_outages") == 0
        assert counter(metrics, "sentiment_gateway_audit_dead_lettered") == 1
        assert counter(metrics, "sentiment_gateway_audit_write_errors") == 0
        await drift.close()
        assert await audit.close()

    try:
        run(body())
    finally:
        engine.dispose()
    dead_letter = (tmp_path / "spool" / "one" / "dead-letter.jsonl").read_text()
    assert "metrics-\\u0000nul" in dead_letter


def _features():  # type: ignore[no-untyped-def]
    from gateway.core.contracts import TextFeatures

    return TextFeatures(text_length=3, token_count=1, unknown_token_rate=0.0, non_ascii_share=0.0)
