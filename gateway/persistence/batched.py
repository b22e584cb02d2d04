"""A table written in batches off the request path, held behind a circuit breaker.

The drift samples and the shadow predictions are written this way: rows that may be lost
(and are counted when they are) rather than make a request wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from gateway.persistence.audit.store import insert_ignoring_duplicates
from gateway.persistence.breaker import CircuitBreaker

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchedWriter(Generic[T]):
    """Rows written off the request path, for records that may be lost rather than wait.

    `add` only queues (bounded; items beyond the bound are dropped and counted: the
    request never waits). A background task inserts queued items in batches, idempotently
    on the table's `KEYS`. An insert that cannot reach the database opens a circuit
    breaker (gateway.persistence.breaker): the batch is kept and retried when the cooldown
    ends (1 s, doubling to 30 s), new items wait in the bounded queue meanwhile, and the
    outage is logged once when it starts and once when it ends. Subclasses name `TABLE`,
    `KEYS`, `WHAT` and `row()`. Create it in the running loop.
    """

    TABLE: Any
    KEYS: tuple[str, ...]
    WHAT: str
    """What the rows are, for log lines."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_queued: int = 10_000,
        batch_size: int = 500,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.engine = engine
        self.breaker = breaker or CircuitBreaker()
        self._insert = insert_ignoring_duplicates(engine, self.TABLE, list(self.KEYS))
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=max_queued)
        self._batch_size = batch_size
        self._task = asyncio.create_task(self._run(), name=f"{self.WHAT} writer")
        self.stored = 0
        """Items inserted so far."""
        self.dropped = 0
        """Items dropped: the queue was full, the database refused them, or it was
        unreachable when the writer closed."""
        self._writing = 0

    async def add(self, samples: Sequence[T]) -> None:
        for sample in samples:
            try:
                self._queue.put_nowait(sample)
            except asyncio.QueueFull:
                self.dropped += 1

    def insert(self, samples: Sequence[T]) -> None:
        """Blocking insert of `samples` (rows whose keys exist already are kept)."""
        with self.engine.begin() as connection:
            connection.execute(self._insert, [self.row(s) for s in samples])

    def row(self, item: T) -> dict[str, Any]:
        """The table row of one queued item."""
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._writing = len(batch)
            try:
                await self._store(batch)
            finally:
                self._writing = 0
                for _ in batch:
                    self._queue.task_done()

    async def _store(self, batch: list[T]) -> None:
        """Insert `batch`. While the database cannot be reached (an operational error:
        refused, timed out, disconnected) the batch is kept and retried through the
        breaker; a batch the database refuses (bad data) is dropped and counted."""
        while True:
            await self.breaker.wait_until_allowed()
            try:
                await asyncio.to_thread(self.insert, batch)
            except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError) as error:
                if self.breaker.failure():
                    log.warning("database unreachable; holding %s: %s", self.WHAT, error)
                continue
            except Exception as error:  # the loop must outlive any one bad batch
                self.dropped += len(batch)
                unexpected = not isinstance(error, sa_exc.SQLAlchemyError)
                log.warning("dropped %d %s: %s", len(batch), self.WHAT, error, exc_info=unexpected)
                return
            if self.breaker.success():
                log.warning("database reachable again; writing held %s", self.WHAT)
            self.stored += len(batch)
            return

    async def close(self, timeout: float = 5.0) -> None:
        """Store what is queued (for up to `timeout` s), then stop the background task;
        what is still unwritten then (the database away) is counted as dropped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        unwritten = self._queue.qsize() + self._writing
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if unwritten:
            self.dropped += unwritten
            log.warning("dropped %d %s at shutdown (database unreachable)", unwritten, self.WHAT)
