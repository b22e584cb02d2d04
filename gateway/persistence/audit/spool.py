"""`AuditSpool`: group-committed, bounded write-ahead spool of audit payloads.

`append` queues a frame and waits for its own future; a single flusher task writes every
frame queued so far with one `write` + `fsync` on a dedicated thread, then resolves their
futures. While one fsync runs, new appends pile up for the next: under load, one fsync
covers many requests.

The bound (`max_bytes`) holds for the segment files on disk plus the frames queued in
memory, within one record: an append that would pass it is refused. Segments are at most
half the resume mark, so the space of stored records comes back in steps of one segment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway.core.contracts import AuditSpoolFull, AuditUnavailable
from gateway.persistence.audit.segments import Position, ReadBatch, SegmentFiles, frame

log = logging.getLogger(__name__)


class AuditSpool:
    """Durable FIFO of payloads between the request path and the database writer.

    Create it with `await AuditSpool.open(...)` inside the running loop.
    """

    def __init__(
        self,
        files: SegmentFiles,
        max_bytes: int,
        resume_ratio: float,
        io: ThreadPoolExecutor,
        reader: ThreadPoolExecutor,
    ) -> None:
        self._files = files
        self._max_bytes = max_bytes
        self._resume_bytes = int(max_bytes * resume_ratio)
        self._io = io
        self._reader = reader
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._queued_bytes = 0
        self._flusher: asyncio.Task[None] | None = None
        self._full = False
        self._closed = False
        self.durable = Position(0, 0)
        """End of what is fsynced: the writer reads up to here."""
        self.read_position = Position(0, 0)
        """Start of what is not yet in the database."""
        self.pending_records = 0
        """Records fsynced but not yet committed to the database."""
        self.data_ready = asyncio.Event()
        """Set whenever `durable` moves forward."""
        self.fence: Callable[[], bool] = lambda: True
        """Checked after each fsync: False fails that write's appends (the folder's lease
        is stale, so another instance may be draining it)."""

    @classmethod
    async def open(
        cls,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int,
        resume_ratio: float = 0.8,
    ) -> AuditSpool:
        """Open (or create) the spool in `directory`; earlier contents stay pending."""
        io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-spool-io")
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-spool-reader")
        # Small enough that a drained spool (one segment left) is below the resume mark.
        segment_bytes = min(segment_bytes, max(int(max_bytes * resume_ratio / 2), 4096))
        files = SegmentFiles(directory, segment_bytes)
        recovered = await asyncio.get_running_loop().run_in_executor(io, files.recover)
        spool = cls(files, max_bytes, resume_ratio, io, reader)
        spool.durable = recovered.durable
        spool.read_position = recovered.start
        spool.pending_records = recovered.pending_records
        # Above the resume mark the previous run was (nearly) full: drain before accepting.
        spool._full = files.disk_bytes > spool._resume_bytes
        if spool.pending_records:
            log.info("audit spool: %d records to replay", spool.pending_records)
            spool.data_ready.set()
        return spool

    @property
    def fsyncs(self) -> int:
        """Data fsyncs so far (group commits), for tests and metrics."""
        return self._files.fsyncs

    @property
    def disk_bytes(self) -> int:
        """Bytes of the segment files plus frames queued for them: what the bound limits."""
        return self._files.disk_bytes + self._queued_bytes

    @property
    def directory(self) -> Path:
        return self._files.directory

    @property
    def accepting(self) -> bool:
        """False once the bound was hit, until the spool drains below the resume mark."""
        return not self._full and not self._closed

    async def append(self, payload: bytes) -> None:
        """Return once `payload` is fsynced; AuditSpoolFull when over the bound."""
        if self._closed:
            raise AuditUnavailable("audit spool is closed")
        data = frame(payload)
        if self._full or self.disk_bytes + len(data) > self._max_bytes:
            if not self._full:
                log.error("audit spool full (%d bytes): rejecting requests", self.disk_bytes)
            self._full = True
            raise AuditSpoolFull("audit spool is full")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((data, future))
        self._queued_bytes += len(data)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="audit-spool-flush")
        # Shielded: a caller that gives up (deadline) must not cancel the shared write.
        await asyncio.shield(future)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            size = sum(len(data) for data, _ in batch)
            self._queued_bytes -= size
            try:
                durable = await loop.run_in_executor(
                    self._io, self._files.write, [data for data, _ in batch]
                )
            except BaseException as error:
                log.exception("audit spool write failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(AuditUnavailable(f"audit spool write failed: {error}"))
                if not isinstance(error, Exception):
                    raise
                continue
            self.durable = durable
            self.pending_records += len(batch)
            self.data_ready.set()
            fenced = not self.fence()
            if fenced:
                log.error("audit spool lease is stale: %d records not acknowledged", len(batch))
            for _, future in batch:
                if future.done():
                    continue
                if fenced:
                    future.set_exception(AuditUnavailable("audit spool lease is stale"))
                else:
                    future.set_result(None)

    async def read(self, max_records: int) -> ReadBatch:
        """The next records after `read_position` (not consumed until `committed`)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._reader, self._files.read, self.read_position, self.durable, max_records
        )

    def commit_blocking(self, batch: ReadBatch) -> None:
        """Advance the checkpoint past `batch` and delete finished segments (blocking; run
        it off the loop, then call `committed`)."""
        self._files.commit(batch.end)

    def committed(self, batch: ReadBatch) -> None:
        """Account for `batch` once `commit_blocking` has returned."""
        self.read_position = batch.end
        self.pending_records = max(self.pending_records - len(batch.payloads), 0)
        if self._full and self.disk_bytes <= self._resume_bytes:
            log.warning("audit spool drained to %d bytes: accepting again", self.disk_bytes)
            self._full = False

    async def close(self) -> None:
        """Finish queued writes, then release files and threads (pending data stays on disk)."""
        self._closed = True
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._reader, self._files.close)
        self._io.shutdown(wait=True)
        self._reader.shutdown(wait=True)
