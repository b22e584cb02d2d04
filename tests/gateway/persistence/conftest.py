"""Databases for the persistence tests: a SQLite file per test and, when the machine's
PostgreSQL answers, a fresh database for this session (dropped at the end).

Tests that take the `engine` fixture run once per backend. PostgreSQL cases are skipped,
with the reason, only when the server is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gateway.db import make_engine, upgrade_database

PG_HOST = os.environ.get("SENTIMENT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SENTIMENT_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SENTIMENT_TEST_PG_USER", "postgres")
TABLES = ("audit_records", "api_keys", "drift_samples")


def _admin_connect() -> Any:
    import psycopg2

    connection = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3
    )
    connection.autocommit = True
    return connection


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test session on the machine's PostgreSQL."""
    try:
        admin = _admin_connect()
    except Exception as error:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {error}")
    name = f"gateway_persistence_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    yield f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    admin = _admin_connect()  # a fault test may have restarted the server meanwhile
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'gateway.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database with empty tables."""
    engine = make_engine(database_url)
    upgrade_database(engine)
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DELETE FROM {table}"))
    yield engine
    engine.dispose()
