"""`SpooledAuditLog`: the gateway's `AuditLog` (spool first, database in the background).

`append` returns once the record is fsynced in the local spool, so an acknowledged request
survives a crash of the gateway or an outage of the database. A background task reads the
spool in order, inserts batches idempotently on request id, and only then advances the
spool's checkpoint. Start-up replays whatever the spool still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.core.contracts import AuditRecord, AuditUnavailable
from gateway.persistence.audit.records import decode_record, encode_record, to_row
from gateway.persistence.audit.spool import AuditSpool
from gateway.persistence.audit.store import AuditStore

log = logging.getLogger(__name__)


class SpooledAuditLog:
    """Durable audit trail on a local spool and a SQL table. Use `await SpooledAuditLog.open`."""

    def __init__(
        self,
        spool: AuditSpool,
        store: AuditStore,
        *,
        batch_records: int,
        retry_initial_s: float,
        retry_max_s: float,
        store_text: bool,
        write_interval_s: float = 0.0,
    ) -> None:
        self._spool = spool
        self._store = store
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
        self.database_ok = True
        """False since the last database write failed, until one succeeds."""
        self.records_stored = 0
        """Records inserted by this process (duplicates of earlier inserts included)."""
        self.records_refused = 0
        """Records the database rejected as invalid, kept in the dead-letter file instead."""
        self.write_errors = 0
        """Failed database writes (each is retried with backoff)."""

    @classmethod
    async def open(
        cls,
        engine: Engine,
        spool_dir: Path,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        segment_bytes: int = 16 * 1024 * 1024,
        resume_ratio: float = 0.8,
        batch_records: int = 500,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        store_text: bool = True,
        write_interval_s: float = 0.0,
    ) -> SpooledAuditLog:
        """Open the spool in `spool_dir` and start writing it to `engine`'s audit table.

        `write_interval_s` lets records gather for up to that long before a database write
        (`close` cuts the wait short): at low load one transaction, one checkpoint and a
        few thread hops then serve many requests instead of one each.
        """
        spool = await AuditSpool.open(
            spool_dir, max_bytes=max_bytes, segment_bytes=segment_bytes, resume_ratio=resume_ratio
        )
        store = AuditStore(engine, spool_dir / "dead-letter.jsonl")
        return cls(
            spool,
            store,
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
        """Spool bytes not yet in the database (the bound applies to this)."""
        return self._spool.pending_bytes

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

        Returns True when everything reached the database; otherwise the rest stays in the
        spool and the next start replays it.
        """
        self._stopping = True
        self._flush_now.set()
        self._spool.data_ready.set()
        done, _ = await asyncio.wait({self._writer}, timeout=timeout)
        if not done:
            left = self.spool_depth_records
            log.warning("audit log closed with %d records left in the spool", left)
            self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        complete = self._spool.pending_records == 0
        await self._spool.close()
        self._db.shutdown(wait=False, cancel_futures=True)
        return complete

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
            if spool.read_position >= spool.durable:
                if self._stopping:
                    return
                spool.data_ready.clear()
                await spool.data_ready.wait()
                await self._gather_batch()
                continue
            batch = await spool.read(self._batch_records)
            rows = self._rows(batch.payloads)
            if rows:
                oldest = rows[0]["completed_at"].timestamp()
                self._head_at = min(self._head_at or oldest, oldest)
            refused = await self._insert_until_stored(rows)
            await spool.commit(batch)
            self.records_stored += len(rows) - refused
            self.records_refused += refused
            if not spool.pending_records:
                self._head_at = None

    async def _gather_batch(self) -> None:
        """Give records `write_interval_s` to accumulate before the next database write."""
        if self._write_interval_s > 0 and not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self._write_interval_s)

    def _rows(self, payloads: list[bytes]) -> list[dict[str, Any]]:
        rows = []
        for payload in payloads:
            try:
                rows.append(to_row(decode_record(payload)))
            except Exception as error:  # a frame that passed its CRC but is not a record
                self._store.write_dead_letter({"payload": payload.decode(errors="replace")}, error)
                self.records_refused += 1
        return rows

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
