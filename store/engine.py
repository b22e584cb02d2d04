"""One engine factory for every database URL the gateway accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for `url`: SQLite files get WAL and full fsync, PostgreSQL short timeouts.

    A SQLite file's parent folder is created. Connections are pinged on checkout so that
    a restarted PostgreSQL is picked up without errors after the first failed write.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
        # Fail fast on a database that is down or unreachable, and notice a connection
        # whose server went silent (TCP keepalives, unacknowledged writes) within seconds
        # rather than the kernel's minutes: the audit writer and key reloads then retry.
        connect_args.update(
            connect_timeout=3,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=5000,
        )
    return create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the operator CLI read while the gateway writes; FULL makes each commit
    # durable, which the audit spool relies on before it deletes a segment.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything the gateway stores is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
