"""Faults of the audit path: crashes, a database outage, a full spool.

The PostgreSQL outage is real: the machine's cluster is stopped with pg_ctlcluster while
records are appended, then started again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from persistence_helpers import audit_counts, make_record, run
from sqlalchemy import Engine, text

from gateway.core.contracts import AuditSpoolFull
from gateway.persistence.audit import SpooledAuditLog
from gateway.persistence.audit.records import to_row
from gateway.persistence.audit.store import AuditStore
from gateway.persistence.keys import ApiKeyStore
from store import make_engine, upgrade_database
from tests.postgres import PG_CLUSTER, can_restart_postgres
from tests.postgres import pg_ctl as _pg_ctl
from tests.postgres import pg_online as _pg_online

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def unmigrated_engine(tmp_path: Path) -> Engine:
    """A database without tables: every insert fails like a database that is down."""
    return make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")


def test_replay_after_abandoned_writer(engine: Engine, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    records = [make_record(f"abandoned-{i}") for i in range(120)]
    # Half of them reached the table before the "crash", but the checkpoint did not move.
    AuditStore(engine, tmp_path / "dead.jsonl").insert([to_row(r) for r in records[::2]])

    async def crash() -> None:
        log = await SpooledAuditLog.open(unmigrated_engine(tmp_path), spool_dir, instance_id="gw")
        await asyncio.gather(*(log.append(r) for r in records))
        # No close(): the loop ends, its tasks are dropped and the spool is left as is.

    run(crash())
    (segment,) = (spool_dir / "gw").glob("segment-*.spool")
    with open(segment, "ab") as handle:
        handle.write(b"\x40\x00\x00\x00\x01\x02")  # a torn frame, as a crash mid-write leaves

    async def restart() -> None:
        log = await SpooledAuditLog.open(engine, spool_dir, instance_id="gw")
        assert log.spool_depth_records == len(records)
        assert await log.drained(20)
        assert await log.close()

    run(restart())
    assert audit_counts(engine) == {r.request_id: 1 for r in records}


def test_another_instance_drains_the_spool_of_a_killed_one(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "spool_worker.py"), database_url, str(spool_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked: list[str] = []
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            acked.append(line.split()[1])
            if len(acked) >= 400:
                break
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    assert len(acked) >= 400, "the worker stopped before it was killed"

    async def survivor() -> None:
        # Another instance on the same root: it drains the dead worker's folder once the
        # worker's lease (2 s) has expired; a loaded CI box gets a generous deadline.
        log = await SpooledAuditLog.open(
            engine, spool_dir, instance_id="survivor", lease_ttl_s=1.0, recovery_interval_s=0.2
        )
        deadline = time.monotonic() + 90
        while (spool_dir / "worker").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not (spool_dir / "worker").exists(), "the orphaned spool was not drained"
        assert log.orphans_drained == 1
        assert await log.close()

    run(survivor())
    counts = audit_counts(engine)
    assert all(counts.get(i) == 1 for i in acked), "an acknowledged record is missing"
    assert set(counts.values()) == {1}


def test_full_spool_stops_accepting_and_recovers(engine: Engine, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    bound = 8 * 1024
    acked: list[str] = []

    async def fill() -> None:
        log = await SpooledAuditLog.open(
            unmigrated_engine(tmp_path), spool_dir, instance_id="gw", max_bytes=bound
        )
        assert log.accepting
        with pytest.raises(AuditSpoolFull):
            for i in range(1000):
                await log.append(make_record(f"full-{i}"))
                acked.append(f"full-{i}")
        assert not log.accepting
        assert log.spool_depth_bytes <= bound
        with pytest.raises(AuditSpoolFull):
            await log.append(make_record("one-more"))
        assert not await log.close(timeout=0.2)

    run(fill())
    assert 5 < len(acked) < 1000

    async def drain() -> None:
        log = await SpooledAuditLog.open(engine, spool_dir, instance_id="gw", max_bytes=bound)
        # Still full from the previous run until the writer has replayed it.
        assert not log.accepting
        assert await log.drained(20)
        assert log.accepting
        await log.append(make_record("after-recovery"))
        assert await log.close()

    run(drain())
    assert audit_counts(engine) == {i: 1 for i in [*acked, "after-recovery"]}


def test_postgres_outage_loses_and_duplicates_nothing(postgres_url: str, tmp_path: Path) -> None:
    if not can_restart_postgres():
        pytest.skip(f"cannot stop and start PostgreSQL cluster {'/'.join(PG_CLUSTER)} here")
    engine = make_engine(postgres_url)
    upgrade_database(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records"))
    keys = ApiKeyStore(engine, refresh_interval_s=0.0, stale_ttl_s=60.0)
    issued = keys.create(f"outage-{os.getpid()}")
    acked: list[str] = []

    async def produce(log: SpooledAuditLog, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            ids = [f"outage-{n}-{i}" for i in range(5)]
            await asyncio.gather(*(log.append(make_record(i)) for i in ids))
            acked.extend(ids)
            n += 1
            await asyncio.sleep(0.01)

    async def body() -> None:
        log = await SpooledAuditLog.open(
            engine, tmp_path / "spool", retry_initial_s=0.05, retry_max_s=0.5
        )
        assert await keys.authenticate(issued.token) is not None
        stop = asyncio.Event()
        producer = asyncio.create_task(produce(log, stop))
        await asyncio.sleep(0.3)
        try:
            await asyncio.to_thread(_pg_ctl, "stop")
            deadline = time.monotonic() + 15
            while log.database_ok and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not log.database_ok, "the writer never noticed the outage"
            await asyncio.sleep(0.5)  # keep appending while the database is down
            assert log.spool_depth_records > 0
            assert log.write_lag_s > 0
            assert await keys.authenticate(issued.token) is not None  # served from cache
        finally:
            if not _pg_online():
                await asyncio.to_thread(_pg_ctl, "start")
        await asyncio.sleep(0.3)
        stop.set()
        await producer
        assert await log.drained(30), "the spool was not replayed after the restart"
        assert log.database_ok
        assert await log.close()

    try:
        run(body())
    finally:
        if not _pg_online():
            _pg_ctl("start")
    assert len(acked) > 50
    assert audit_counts(engine) == {i: 1 for i in acked}
    engine.dispose()
