from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

from persistence_helpers import audit_counts, make_record, run
from sqlalchemy import Engine

from gateway.persistence.audit import (
    AuditStore,
    SpooledAuditLog,
    decode_record,
    encode_record,
    row_to_json,
)


def test_concurrent_appends_are_group_committed_and_stored_once(
    engine: Engine, tmp_path: Path
) -> None:
    records = [make_record(f"req-{i}") for i in range(300)]

    async def body() -> SpooledAuditLog:
        log = await SpooledAuditLog.open(engine, tmp_path / "spool", batch_records=64)
        await asyncio.gather(*(log.append(r) for r in records[:200]))
        # Every append above returned after its fsync, and they shared fsyncs.
        assert 1 <= log.fsyncs < 200
        await asyncio.gather(*(log.append(r) for r in records[200:]))
        await log.append(records[0])  # a retried request id is stored once
        assert log.fsyncs < len(records)
        assert await log.close(timeout=20)
        return log

    log = run(body())
    assert log.records_stored == 301
    assert log.spool_depth_records == 0 and not log.directory.exists()
    assert audit_counts(engine) == {r.request_id: 1 for r in records}


def test_stored_record_round_trips(engine: Engine, tmp_path: Path) -> None:
    record = make_record("req-utf", texts=["naïve 😀 \x00 text", "second"])

    async def body() -> None:
        log = await SpooledAuditLog.open(engine, tmp_path / "spool")
        await log.append(record)
        assert await log.drained(10)
        assert log.write_lag_s == 0.0
        await log.close()

    run(body())
    (row,) = AuditStore(engine, tmp_path / "dead.jsonl").fetch(["req-utf", "req-missing"])
    stored = row_to_json(row)
    assert stored["texts"] == record.texts
    assert stored["key_id"] == record.key_id
    assert stored["predictions"][1]["probabilities"] == {"negative": 0.1, "positive": 0.9}
    assert stored["model_version"] == "3"
    assert abs(stored["latency_ms"] - 4.0) < 1e-6
    assert stored["received_at"] == record.received_at.isoformat()


def test_spool_payload_round_trips_every_field() -> None:
    # encode_record lists the fields itself (no dataclasses.asdict): none may be left out.
    record = make_record("req-fields", texts=["naïve \ud800 text"])
    assert decode_record(encode_record(record)) == record
    assert dataclasses.asdict(decode_record(encode_record(record))) == dataclasses.asdict(record)


def test_write_interval_batches_database_writes(engine: Engine, tmp_path: Path) -> None:
    async def body() -> None:
        log = await SpooledAuditLog.open(engine, tmp_path / "spool", write_interval_s=1.0)
        started = time.monotonic()
        for i in range(5):  # one at a time, like callers at concurrency 1
            await log.append(make_record(f"interval-{i}"))
        assert log.spool_depth_records == 5  # all waiting for one database write
        assert await log.drained(10)
        assert time.monotonic() - started >= 0.9
        assert log.records_stored == 5
        await log.append(make_record("interval-last"))
        closing = time.monotonic()
        assert await log.close()
        assert time.monotonic() - closing < 0.8, "close must not wait out the interval"

    run(body())
    assert audit_counts(engine) == {**{f"interval-{i}": 1 for i in range(5)}, "interval-last": 1}


def test_hash_only_mode_drops_texts(engine: Engine, tmp_path: Path) -> None:
    async def body() -> None:
        log = await SpooledAuditLog.open(engine, tmp_path / "spool", store_text=False)
        await log.append(make_record("req-secret", texts=["private words"]))
        assert await log.close()

    run(body())
    (row,) = AuditStore(engine, tmp_path / "dead.jsonl").fetch(["req-secret"])
    assert row.texts is None and row.text_sha256 == ["0" * 64]
    spooled = (p.read_bytes() for p in (tmp_path / "spool").rglob("*") if p.is_file())
    assert b"private words" not in b"".join(spooled)


def test_segments_rotate_and_are_deleted_once_stored(engine: Engine, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"

    async def body() -> None:
        log = await SpooledAuditLog.open(engine, spool_dir, segment_bytes=2048, batch_records=7)
        for wave in range(10):
            await asyncio.gather(*(log.append(make_record(f"r-{wave}-{i}")) for i in range(10)))
        assert await log.drained(20)
        assert len(list(log.directory.glob("segment-*.spool"))) == 1  # only the active one
        assert await log.close()

    run(body())
    assert len(audit_counts(engine)) == 100
    assert list(spool_dir.iterdir()) == []  # a clean stop leaves nothing behind


def test_a_spooled_record_of_an_earlier_release_replays_under_its_request_id() -> None:
    payload = json.loads(encode_record(make_record("spooled-before-upgrade")))
    del payload["audit_id"]  # earlier releases spooled no audit id
    record = decode_record(json.dumps(payload).encode())
    assert record.audit_id == record.request_id == "spooled-before-upgrade"
