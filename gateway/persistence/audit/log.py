"""`SpooledAuditLog`: the gateway's `AuditLog` (spool first, database in the background).

`append` returns once the record is fsynced in the spool, so an acknowledged request
survives a crash of the gateway or an outage of the database. A background task reads the
spool in order, inserts batches idempotently on audit id, and only then advances the
spool's checkpoint.

The spool is this instance's folder under a root that instances share, held by a lease
(gateway.persistence.audit.lease) that a second task renews; a third drains the folders of
instances that are gone (gateway.persistence.audit.recovery). File errors on the
checkpoint or the dead-letter file are retried with backoff, never fatal; losing the lease
is: the gateway then stops accepting requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from gateway.core.contracts import AuditRecord, AuditUnavailable
from gateway.persistence.audit.lease import Lease, LeaseLost
from gateway.persistence.audit.records import encode_record
from gateway.persistence.audit.recovery import OrphanDrainer, rows_of
from gateway.persistence.audit.segments import CHECKPOINT, LOCK, SpoolLocked
from gateway.persistence.audit.spool import AuditSpool
from gateway.persistence.audit.store import AuditStore

log = logging.getLogger(__name__)

T = TypeVar("T")


class SpooledAuditLog:
    """Durable audit trail on a local spool and a SQL table. Use `await SpooledAuditLog.open`."""

    def __init__(
        self,
        spool: AuditSpool,
        store: AuditStore,
        *,
        lease: Lease,
        drainer: OrphanDrainer,
        recovery_interval_s: float,
        batch_records: int,
        retry_initial_s: float,
        retry_max_s: float,
        store_text: bool,
        write_interval_s: float = 0.0,
    ) -> None:
        self._spool = spool
        self._store = store
        self._lease = lease
        self._drainer = drainer
        self._recovery_interval_s = recovery_interval_s
        self._batch_records = batch_records
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._store_text = store_text
        self._write_interval_s = write_interval_s
        self._flush_now = asyncio.Event()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-db")
        self._stopping = False
        self._failure: BaseException | None = None
        self._head_at: float | None = None
        self._writer = asyncio.create_task(self._run_writer(), name="audit-writer")
        self._keeper = asyncio.create_task(self._keep_lease(), name="audit-lease")
        self._recovery = asyncio.create_task(self._drain_orphans(), name="audit-recovery")
        self.database_ok = True
        """False since the last database write failed, until one succeeds."""
        self.records_stored = 0
        """Records inserted by this process (duplicates of earlier inserts included)."""
        self.records_refused = 0
        """Records the database rejected as invalid, kept in the dead-letter file instead."""
        self.write_errors = 0
        """Failed database writes (each is retried with backoff)."""
        self.file_errors = 0
        """Failed checkpoint or dead-letter writes (each is retried with backoff)."""
        self.records_quarantined = 0
        """Corrupt stretches of spool (about one record each) moved to quarantine/."""
        self.orphans_drained = 0
        """Spool folders of gone instances drained by this one."""
        self.orphan_records = 0
        """Records inserted from those folders."""

    @classmethod
    async def open(
        cls,
        engine: Engine,
        root: Path,
        *,
        instance_id: str | None = None,
        lease_ttl_s: float = 30.0,
        recovery_interval_s: float = 5.0,
        max_bytes: int = 256 * 1024 * 1024,
        segment_bytes: int = 16 * 1024 * 1024,
        resume_ratio: float = 0.8,
        batch_records: int = 500,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        store_text: bool = True,
        write_interval_s: float = 0.0,
    ) -> SpooledAuditLog:
        """Claim `<root>/<instance_id>` (a new random name by default), open its spool and
        start writing it to `engine`'s audit table; SpoolLocked if a live process holds it.

        `write_interval_s` lets records gather for up to that long before a database write
        (`close` cuts the wait short): at low load one transaction, one checkpoint and a
        few thread hops then serve many requests instead of one each.
        """
        instance = instance_id or f"gateway-{os.getpid()}-{secrets.token_hex(4)}"
        directory = root / instance
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        spool = await AuditSpool.open(
            directory, max_bytes=max_bytes, segment_bytes=segment_bytes, resume_ratio=resume_ratio
        )
        try:
            # Holding the folder's process lock proves an earlier process of the same name
            # is gone, so its unexpired lease may be taken over.
            lease = await asyncio.to_thread(
                Lease.claim, directory, instance, lease_ttl_s, same_instance=True
            )
        except Exception as error:
            await spool.close()
            raise SpoolLocked(f"audit spool {directory}: {error}") from error
        spool.fence = lease.fresh
        store = AuditStore(engine, directory / "dead-letter.jsonl")
        drainer = OrphanDrainer(root, directory, instance, lease_ttl_s, store, batch_records)
        return cls(
            spool,
            store,
            lease=lease,
            drainer=drainer,
            recovery_interval_s=recovery_interval_s,
            batch_records=batch_records,
            retry_initial_s=retry_initial_s,
            retry_max_s=retry_max_s,
            store_text=store_text,
            write_interval_s=write_interval_s,
        )

    # -- the AuditLog protocol ---------------------------------------------------------

    @property
    def accepting(self) -> bool:
        """False while the spool is full or the writer has died: report NOT_SERVING."""
        return self._failure is None and self._spool.accepting

    async def append(self, record: AuditRecord) -> None:
        """Return once `record` is durable; AuditSpoolFull / AuditUnavailable otherwise."""
        if self._failure is not None:
            raise AuditUnavailable("audit writer stopped") from self._failure
        if not self._store_text and record.texts is not None:
            record = dataclasses.replace(record, texts=None)
        await self._spool.append(encode_record(record))
        if self._head_at is None:
            self._head_at = time.time()

    # -- metrics -----------------------------------------------------------------------

    @property
    def spool_depth_records(self) -> int:
        """Records acknowledged but not yet in the database."""
        return self._spool.pending_records

    @property
    def spool_depth_bytes(self) -> int:
        """Bytes of this instance's spool on disk and queued for it (the bound applies)."""
        return self._spool.disk_bytes

    @property
    def write_lag_s(self) -> float:
        """Age of the oldest record not yet in the database (0 when all are stored)."""
        if self._head_at is None or not self._spool.pending_records:
            return 0.0
        return max(time.time() - self._head_at, 0.0)

    @property
    def fsyncs(self) -> int:
        """Spool fsyncs so far: fewer than appends when group commit batches them."""
        return self._spool.fsyncs

    @property
    def directory(self) -> Path:
        """This instance's spool folder."""
        return self._spool.directory

    # -- lifecycle ---------------------------------------------------------------------

    async def drained(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every spooled record to reach the database."""
        deadline = time.monotonic() + timeout
        while self._spool.pending_records or self._spool.read_position < self._spool.durable:
            if time.monotonic() >= deadline or self._writer.done():
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self, timeout: float = 10.0) -> bool:
        """Flush the spool to the database for up to `timeout` s, then stop.

        Returns True when everything reached the database, and the folder is removed;
        otherwise the rest stays in the spool and the lease is released, so another
        instance (or the next start under the same name) drains it at once.
        """
        self._stopping = True
        self._flush_now.set()
        self._spool.data_ready.set()
        for task in (self._keeper, self._recovery):
            task.cancel()
        done, _ = await asyncio.wait({self._writer}, timeout=timeout)
        if not done:
            left = self.spool_depth_records
            log.warning("audit log closed with %d records left in the spool", left)
            self._writer.cancel()
        await asyncio.gather(self._writer, self._keeper, self._recovery, return_exceptions=True)
        complete = self._spool.pending_records == 0 and self._failure is None
        await self._spool.close()
        self._db.shutdown(wait=False, cancel_futures=True)
        try:
            await asyncio.to_thread(self._leave, complete)
        except OSError:
            log.exception("audit spool %s: could not clean up", self.directory)
        return complete

    def _leave(self, complete: bool) -> None:
        if not complete:
            self._lease.release()
            return
        for path in self.directory.iterdir():
            if path.name.startswith("segment-") or path.name in (CHECKPOINT, LOCK):
                path.unlink(missing_ok=True)
        self._lease.remove()
        with contextlib.suppress(OSError):  # quarantined bytes or dead letters stay
            self.directory.rmdir()

    # -- the lease and other instances' spools -------------------------------------------

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self._recovery_interval_s)
            try:
                await asyncio.to_thread(self._lease.renew)
            except LeaseLost as error:
                self._failure = error
                log.critical("%s; the gateway stops accepting requests", error)
                return
            except OSError as error:
                self.file_errors += 1
                log.warning("audit spool lease not renewed, retrying: %s", error)

    async def _drain_orphans(self) -> None:
        while True:
            try:
                drained = await asyncio.to_thread(self._drainer.drain_all, lambda: self._stopping)
            except Exception as error:  # the database or the shared root: try again later
                log.warning("draining orphaned audit spools failed, retrying: %s", error)
            else:
                self.orphans_drained += drained.folders
                self.orphan_records += drained.records
                self.records_refused += drained.refused
                self.records_quarantined += drained.quarantined
            await asyncio.sleep(self._recovery_interval_s)

    # -- the background writer ---------------------------------------------------------

    async def _run_writer(self) -> None:
        try:
            await self._write_forever()
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            # Requests keep being acknowledged only while records can reach the database.
            self._failure = error
            log.critical("audit writer died; the gateway stops accepting requests", exc_info=True)
            raise

    async def _write_forever(self) -> None:
        spool = self._spool
        while True:
            if self._failure is not None:  # the lease is lost: the folder is another's
                return
            if spool.read_position >= spool.durable:
                if self._stopping:
                    return
                spool.data_ready.clear()
                await spool.data_ready.wait()
                await self._gather_batch()
                continue
            batch = await spool.read(self._batch_records)
            rows, refused = await self._retrying_file_io(rows_of, batch.payloads, self._store)
            if rows:
                oldest = rows[0]["completed_at"].timestamp()
                self._head_at = min(self._head_at or oldest, oldest)
            refused += await self._insert_until_stored(rows)
            await self._retrying_file_io(spool.commit_blocking, batch)
            spool.committed(batch)
            self.records_stored += len(rows) - refused
            self.records_refused += refused
            self.records_quarantined += batch.quarantined
            if not spool.pending_records:
                self._head_at = None

    async def _retrying_file_io(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the writer's thread, retried with backoff on OSError (a full
        or failing disk under the checkpoint or the dead-letter file)."""
        loop = asyncio.get_running_loop()
        delay = self._retry_initial_s
        while True:
            try:
                return await loop.run_in_executor(self._db, function, *args)
            except OSError as error:
                self.file_errors += 1
                log.warning("audit spool file write failed, retrying: %s", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)

    async def _gather_batch(self) -> None:
        """Give records `write_interval_s` to accumulate before the next database write."""
        if self._write_interval_s > 0 and not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self._write_interval_s)

    async def _insert_until_stored(self, rows: list[dict[str, Any]]) -> int:
        loop = asyncio.get_running_loop()
        delay = self._retry_initial_s
        while True:
            try:
                refused = await loop.run_in_executor(self._db, self._store.insert, rows)
            except Exception as error:
                self.write_errors += 1
                if self.database_ok:
                    log.warning("audit database write failed, retrying: %s", error)
                self.database_ok = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            if not self.database_ok:
                log.warning("audit database reachable again; replaying the spool")
            self.database_ok = True
            return refused
