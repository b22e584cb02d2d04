"""Row retention on SQLite and the machine's PostgreSQL: rows past their age go in
batches, newer ones stay, a dry run counts exactly what the real run deletes, and the
gateway's audit writer keeps storing records while old ones are pruned."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from gateway.core.contracts import DriftSample, TextFeatures
from gateway.persistence.audit import SpooledAuditLog
from gateway.persistence.audit.records import to_row
from gateway.persistence.audit.store import AuditStore
from gateway.persistence.drift import to_row as drift_row
from retention.tables import prune_rows
from store.models import AuditRow, DriftResultRow, DriftRow
from tests.gateway.persistence.persistence_helpers import audit_counts, make_record

NOW = datetime.now(UTC)


def aged_audit(engine: Engine, tmp_path: Path, prefix: str, days: float, count: int) -> None:
    moment = NOW - timedelta(days=days)
    records = [
        replace(make_record(f"{prefix}-{i}"), received_at=moment, completed_at=moment)
        for i in range(count)
    ]
    AuditStore(engine, tmp_path / "dead.jsonl").insert([to_row(r) for r in records])


def aged_samples(engine: Engine, prefix: str, days: float, count: int) -> None:
    prediction = make_record("x").predictions[0]
    features = TextFeatures(text_length=5, token_count=2, unknown_token_rate=0.0, non_ascii_share=0)
    moment = NOW - timedelta(days=days)
    samples = [DriftSample(f"{prefix}-{i}", 0, moment, features, prediction) for i in range(count)]
    with engine.begin() as connection:
        connection.execute(insert(DriftRow), [drift_row(sample) for sample in samples])


def aged_results(engine: Engine, days: float, count: int) -> None:
    moment = NOW - timedelta(days=days)
    with Session(engine) as session, session.begin():
        for _ in range(count):
            session.add(
                DriftResultRow(
                    computed_at=moment,
                    window_start=moment,
                    window_end=moment,
                    samples=0,
                    scores={},
                )
            )


def rows(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_rows_past_their_age_go_in_batches_and_the_rest_stay(
    engine: Engine, tmp_path: Path
) -> None:
    aged_audit(engine, tmp_path, "old", 800, 23)
    aged_audit(engine, tmp_path, "new", 10, 5)
    aged_samples(engine, "old", 40, 17)
    aged_samples(engine, "new", 1, 4)
    aged_results(engine, 100, 6)
    aged_results(engine, 2, 3)
    for kind, days, old, new in (
        ("audit_records", 730, 23, 5),
        ("drift_samples", 30, 17, 4),
        ("drift_results", 90, 6, 3),
    ):
        dry = prune_rows(engine, kind, days, batch_rows=5, dry_run=True, now=NOW)
        assert (dry.removed, dry.kept) == (old, new), kind
        real = prune_rows(engine, kind, days, batch_rows=5, now=NOW)
        assert (real.removed, real.kept) == (old, new), kind
        assert real.removed_bytes == dry.removed_bytes
        if engine.dialect.name == "postgresql":
            assert (real.removed_bytes or 0) > 0
    assert sorted(audit_counts(engine)) == sorted(f"new-{i}" for i in range(5))
    assert rows(engine, DriftRow) == 4 and rows(engine, DriftResultRow) == 3


def test_an_age_of_zero_keeps_everything(engine: Engine, tmp_path: Path) -> None:
    aged_audit(engine, tmp_path, "ancient", 5000, 3)
    result = prune_rows(engine, "audit_records", 0, batch_rows=5, now=NOW)
    assert (result.removed, result.kept) == (0, 3)


def test_pruning_while_the_audit_writer_stores_loses_and_blocks_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    from store import make_engine, upgrade_database

    engine = make_engine(postgres_url)
    upgrade_database(engine)
    with engine.begin() as connection:
        connection.execute(AuditRow.__table__.delete())
    aged_audit(engine, tmp_path, "expired", 800, 3000)
    appended: list[str] = []
    done = threading.Event()

    async def write() -> None:
        log = await SpooledAuditLog.open(engine, tmp_path / "spool")
        index = 0
        while not done.is_set():
            record = make_record(f"live-{index}")
            await log.append(record)  # returns once durable (spooled)
            appended.append(record.request_id)
            index += 1
            await asyncio.sleep(0.002)
        assert await log.drained(30)
        assert await log.close()

    writer = threading.Thread(target=asyncio.run, args=(write(),))
    writer.start()
    try:
        result = prune_rows(engine, "audit_records", 730, batch_rows=100, pause_s=0.01, now=NOW)
    finally:
        done.set()
        writer.join(60)
    assert result.removed == 3000
    stored = audit_counts(engine)
    assert appended and set(appended) == set(stored)  # every live record, no expired one
    engine.dispose()
