"""Drift sampling: which requests to keep (`should_sample`) and where (`SqlDriftSink`).

The choice is a pure function of the request id, so a replayed or retried request is
sampled the same way by every gateway replica. The features come from `gateway.core.text`,
which computes them as `training.reference` does (a test holds the two equal), so live
samples compare like for like with the reference statistics saved at training time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from gateway.core.contracts import DriftSample
from gateway.persistence.audit.store import insert_ignoring_duplicates
from gateway.persistence.breaker import CircuitBreaker
from store.engine import as_utc
from store.models import DriftRow

log = logging.getLogger(__name__)

_SCALE = float(1 << 64)


def should_sample(request_id: str, rate: float) -> bool:
    """True for a `rate` share of request ids, the same answer for the same id every time."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < rate


def to_row(sample: DriftSample) -> dict[str, Any]:
    prediction, features = sample.prediction, sample.features
    return {
        "request_id": sample.request_id,
        "index": sample.index,
        "sampled_at": as_utc(sample.sampled_at),
        "text_length": features.text_length,
        "token_count": features.token_count,
        "unknown_token_rate": features.unknown_token_rate,
        "non_ascii_share": features.non_ascii_share,
        "label": prediction.label,
        "score": prediction.score,
        "probabilities": prediction.probabilities,
        "model_name": prediction.model_name,
        "model_version": prediction.model_version,
        "mlflow_run_id": prediction.mlflow_run_id,
    }


class SqlDriftSink:
    """`DriftSink` on the `drift_samples` table, off the request path.

    `add` only queues (bounded; samples beyond the bound are dropped and counted: drift
    statistics tolerate gaps, requests must not wait). A background task inserts queued
    samples in batches, idempotently on (request id, index). An insert that cannot reach
    the database opens a circuit breaker (gateway.persistence.breaker): the batch is kept
    and retried when the cooldown ends (1 s, doubling to 30 s), new samples wait in the
    bounded queue meanwhile, and the outage is logged once when it starts and once when
    it ends. Create it in the running loop.
    """

    TABLE: Any = DriftRow.__table__
    KEYS: tuple[str, ...] = ("request_id", "index")
    WHAT = "drift samples"

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
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_queued)
        self._batch_size = batch_size
        self._task = asyncio.create_task(self._run(), name=f"{self.WHAT} writer")
        self.stored = 0
        """Samples inserted so far."""
        self.dropped = 0
        """Samples dropped: the queue was full, the database refused them, or it was
        unreachable when the sink closed."""
        self._writing = 0

    async def add(self, samples: Sequence[Any]) -> None:
        for sample in samples:
            try:
                self._queue.put_nowait(sample)
            except asyncio.QueueFull:
                self.dropped += 1

    def insert(self, samples: Sequence[Any]) -> None:
        """Blocking insert of `samples` (rows whose keys exist already are kept)."""
        with self.engine.begin() as connection:
            connection.execute(self._insert, [self.row(s) for s in samples])

    def row(self, item: Any) -> dict[str, Any]:
        """The table row of one queued item."""
        return to_row(item)

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

    async def _store(self, batch: list[Any]) -> None:
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

    def fetch(self, request_id: str) -> list[DriftRow]:
        """Stored samples of one request, by position."""
        query = select(DriftRow).where(DriftRow.request_id == request_id).order_by(DriftRow.index)
        with Session(self.engine) as session:
            rows = list(session.scalars(query))
            session.expunge_all()
        return rows
