"""One engine factory for every database URL the gateway accepts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    iam_auth: bool = False,
    statement_timeout_s: float | None = None,
) -> Engine:
    """An engine for `url`: SQLite files get WAL and full fsync, PostgreSQL short timeouts.

    `statement_timeout_s` (PostgreSQL) bounds every statement and every lock wait of the
    engine's sessions: a hung or locked server fails the call in seconds instead of holding
    a writer (the gateway's); migrations and retention run without it.
    A SQLite file's parent folder is created. Connections are pinged on checkout so that
    a restarted PostgreSQL is picked up without errors after the first failed write.
    With `iam_auth` (PostgreSQL on RDS) each new connection logs in with a freshly signed
    IAM token as its password (`DatabaseSettings.iam_auth` checks the URL asks for TLS).
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
        if statement_timeout_s is not None:
            ms = max(int(statement_timeout_s * 1000), 1)
            connect_args["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
    engine = create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args=connect_args,
    )
    if iam_auth:
        event.listen(engine, "do_connect", _rds_iam_password(parsed))
    return engine


def _rds_iam_password(url: URL) -> Callable[..., None]:
    """A `do_connect` hook that sets the password to an RDS IAM token for `url`'s user.

    A token is valid for 15 minutes and checked only at login, so one is signed (locally,
    no AWS call) for every new connection; pooled connections outlive their token. The
    credentials are the AWS SDK's (on ECS the task role's, refreshed by the SDK).
    """
    import boto3
    from botocore.exceptions import NoRegionError

    if url.get_backend_name() != "postgresql" or not url.host or not url.username:
        raise ValueError("IAM authentication needs a PostgreSQL URL with a host and a user")
    try:
        rds = boto3.session.Session().client("rds")
    except NoRegionError:
        raise ValueError("IAM authentication needs an AWS region (AWS_REGION)") from None
    host, port, user = url.host, url.port or 5432, url.username

    def set_token(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["password"] = rds.generate_db_auth_token(
            DBHostname=host, Port=port, DBUsername=user
        )

    return set_token


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
