"""Rows past their age, deleted in small batches that never hold a long lock.

Each batch is its own transaction: select up to `batch_rows` primary keys of rows older
than the cutoff (through the index on the time column, oldest first), delete those rows,
commit, pause. The gateway's inserts interleave between batches, and a run that is stopped
half-way leaves a consistent table; the next run goes on where it stopped.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, ColumnElement, Engine, Table, delete, func, select, tuple_

from retention.report import KindResult
from store.models import AuditRow, DriftResultRow, DriftRow, ShadowRow

AGED_TABLES: dict[str, tuple[Table, str]] = {
    "audit_records": (AuditRow.__table__, "received_at"),  # type: ignore[dict-item]
    "drift_samples": (DriftRow.__table__, "sampled_at"),  # type: ignore[dict-item]
    "drift_results": (DriftResultRow.__table__, "computed_at"),  # type: ignore[dict-item]
    "shadow_predictions": (ShadowRow.__table__, "created_at"),  # type: ignore[dict-item]
}
"""Each table whose rows age out, and its indexed time column."""


def _older(table: Table, column: str, cutoff: datetime) -> ColumnElement[bool]:
    time_column: Column[datetime] = table.c[column]
    return time_column < cutoff


def _keys(table: Table) -> list[Column[object]]:
    return list(table.primary_key.columns)


def measure(engine: Engine, table: Table, column: str, cutoff: datetime) -> tuple[int, int | None]:
    """(rows, bytes) older than `cutoff`; bytes only where the database can tell (PostgreSQL)."""
    where = _older(table, column, cutoff)
    with engine.connect() as connection:
        rows = int(connection.execute(select(func.count()).where(where)).scalar_one())
        if engine.dialect.name != "postgresql":
            return rows, None
        size = func.coalesce(func.sum(func.pg_column_size(table.table_valued())), 0)
        return rows, int(connection.execute(select(size).where(where)).scalar_one())


def delete_batch(engine: Engine, table: Table, column: str, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` of the oldest rows older than `cutoff`; the number deleted."""
    keys = _keys(table)
    chosen = (
        select(*keys).where(_older(table, column, cutoff)).order_by(table.c[column]).limit(limit)
    )
    target = keys[0] if len(keys) == 1 else tuple_(*keys)
    with engine.begin() as connection:
        return int(connection.execute(delete(table).where(target.in_(chosen))).rowcount)


def prune_rows(
    engine: Engine,
    kind: str,
    max_age_days: int,
    *,
    batch_rows: int,
    pause_s: float = 0.0,
    dry_run: bool = False,
    now: datetime | None = None,
) -> KindResult:
    """Delete (or, in a dry run, count) the rows of `kind` older than `max_age_days`."""
    table, column = AGED_TABLES[kind]
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(table)).scalar_one())
    if not max_age_days:
        return KindResult(kind, 0, 0, total, "kept whatever their age")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=max_age_days)
    rows, size = measure(engine, table, column, cutoff)
    limit = f"older than {max_age_days} days, {batch_rows:,} rows per batch"
    if dry_run or rows == 0:
        return KindResult(kind, rows, size, total - rows, limit)
    removed = 0
    while True:
        deleted = delete_batch(engine, table, column, cutoff, batch_rows)
        removed += deleted
        if deleted < batch_rows:
            break
        time.sleep(pause_s)
    return KindResult(kind, removed, size, total - removed, limit)
