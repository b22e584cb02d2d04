"""Leases on spool folders, and a writer that survives failing checkpoint and dead-letter
files."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from persistence_helpers import audit_counts, make_record, run
from sqlalchemy import Engine

from gateway.core.contracts import AuditUnavailable
from gateway.persistence.audit import SpooledAuditLog
from gateway.persistence.audit.lease import Lease, LeaseHeld, LeaseLost, lease_state
from gateway.persistence.audit.segments import SegmentFiles
from gateway.persistence.audit.store import AuditStore
from store import make_engine, upgrade_database


def test_a_live_lease_has_one_owner_and_an_expired_one_is_taken_over(tmp_path: Path) -> None:
    first = Lease.claim(tmp_path, "a", ttl=0.5, same_instance=False)
    with pytest.raises(LeaseHeld):
        Lease.claim(tmp_path, "b", ttl=0.5, same_instance=False)
    time.sleep(0.6)  # a's lease expires unrenewed
    second = Lease.claim(tmp_path, "b", ttl=0.5, same_instance=False)
    with pytest.raises(LeaseLost):
        first.renew()
    second.renew()
    state = lease_state(tmp_path)
    assert state is not None and state.owner == second.owner


def test_racing_claimants_never_both_win(tmp_path: Path) -> None:
    winners: list[str] = []
    start = threading.Barrier(8)

    def claim(name: str) -> None:
        start.wait()
        try:
            Lease.claim(tmp_path, name, ttl=30, same_instance=False)
            winners.append(name)
        except LeaseHeld:
            pass

    threads = [threading.Thread(target=claim, args=(f"i{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_a_released_lease_is_claimable_at_once(tmp_path: Path) -> None:
    lease = Lease.claim(tmp_path, "a", ttl=300, same_instance=False)
    lease.release()
    Lease.claim(tmp_path, "b", ttl=300, same_instance=False)


def test_checkpoint_and_dead_letter_errors_are_retried(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(postgres_url)
    upgrade_database(engine)
    failures = {"commit": 3, "dead_letter": 2}
    commit, dead_letter = SegmentFiles.commit, AuditStore.write_dead_letter

    def flaky(name: str, original):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            if failures[name]:
                failures[name] -= 1
                raise OSError(5, "Input/output error")
            return original(*args, **kwargs)

        return call

    monkeypatch.setattr(SegmentFiles, "commit", flaky("commit", commit))
    monkeypatch.setattr(AuditStore, "write_dead_letter", flaky("dead_letter", dead_letter))

    async def body() -> None:
        log = await SpooledAuditLog.open(engine, tmp_path, retry_initial_s=0.01)
        await log.append(make_record("kept-1"))
        await log.append(make_record("refused-\x00"))  # the database refuses a NUL
        await log.append(make_record("kept-2"))
        assert await log.drained(20)
        assert log.accepting and log.file_errors >= 3
        await log.append(make_record("kept-3"))
        assert await log.close()

    try:
        run(body())
        assert failures == {"commit": 0, "dead_letter": 0}
        assert set(audit_counts(engine)) >= {"kept-1", "kept-2", "kept-3"}
    finally:
        engine.dispose()
    (folder,) = tmp_path.iterdir()  # kept for an operator: it holds the dead letter
    assert [p.name for p in folder.iterdir()] == ["dead-letter.jsonl"]


def test_no_acknowledgement_once_the_lease_is_stale(engine: Engine, tmp_path: Path) -> None:
    async def body() -> None:
        # Renewals far apart: the lease goes stale before the first one.
        log = await SpooledAuditLog.open(
            engine, tmp_path, instance_id="slow", lease_ttl_s=0.4, recovery_interval_s=60
        )
        await log.append(make_record("while-fresh"))
        await asyncio.sleep(0.3)
        with pytest.raises(AuditUnavailable):
            await log.append(make_record("after-stale"))
        await log.close()

    run(body())
