"""`AuditStore`: idempotent batch inserts into `audit_records`, and look-ups by audit or
request id.

Blocking (SQLAlchemy sync engine); the audit writer calls it on its own thread.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Insert, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import AuditRow

log = logging.getLogger(__name__)

# Failures of the database as a whole (down, unreachable, locked, schema missing): keep
# the records and retry. Anything else is blamed on a record and isolated row by row.
TRANSIENT: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.ProgrammingError,
    sa_exc.InternalError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT)


def insert_ignoring_duplicates(engine: Engine, table: Any, keys: list[str]) -> Insert:
    """`INSERT ... ON CONFLICT DO NOTHING` (PostgreSQL) / `INSERT OR IGNORE` (SQLite)."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).prefix_with("OR IGNORE")
    raise ValueError(f"unsupported database dialect: {engine.dialect.name}")


class AuditStore:
    """Writes audit rows; a row that the database refuses goes to a dead-letter file."""

    def __init__(self, engine: Engine, dead_letter: Path) -> None:
        self.engine = engine
        self.dead_letter = dead_letter
        self._insert = insert_ignoring_duplicates(engine, AuditRow.__table__, ["audit_id"])

    def insert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store `rows` once each (existing request ids are left as they are).

        Returns the number of rows sent to the dead-letter file. Raises the SQLAlchemy
        error when the database as a whole fails (`is_transient`): nothing is lost, the
        caller retries the same rows later.
        """
        if not rows:
            return 0
        try:
            with self.engine.begin() as connection:
                connection.execute(self._insert, list(rows))
            return 0
        except Exception as error:
            if is_transient(error) or not self._refused(error):
                raise
            log.warning("audit batch refused (%s): inserting row by row", type(error).__name__)
        refused = 0
        for row in rows:
            try:
                with self.engine.begin() as connection:
                    connection.execute(self._insert, [row])
            except Exception as error:
                if is_transient(error) or not self._refused(error):
                    raise
                self.write_dead_letter(row, error)
                refused += 1
        return refused

    @staticmethod
    def _refused(error: Exception) -> bool:
        # The database (or driver) rejected this data: retrying would fail forever.
        return isinstance(error, sa_exc.StatementError | ValueError | TypeError)

    def write_dead_letter(self, row: dict[str, Any], error: Exception) -> None:
        """Keep a record the database will never take, fsynced, for an operator to inspect."""
        log.error(
            "audit record %s (request id %s) refused: %s",
            row.get("audit_id", "?"),
            row.get("request_id", "?"),
            error,
        )
        line = json.dumps({"error": str(error), "row": row}, default=str, ensure_ascii=False)
        with open(self.dead_letter, "a", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def fetch(self, ids: Sequence[str]) -> list[AuditRow]:
        """Every stored attempt whose audit id or request id is among `ids`, oldest first."""
        wanted = list(ids)
        query = (
            select(AuditRow)
            .where(or_(AuditRow.audit_id.in_(wanted), AuditRow.request_id.in_(wanted)))
            .order_by(AuditRow.received_at, AuditRow.audit_id)
        )
        with Session(self.engine) as session:
            rows = list(session.scalars(query))
            session.expunge_all()
        return rows
