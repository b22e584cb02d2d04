"""Database fixtures for every test folder (a pytest plugin, see tests/conftest.py).

`postgres_url`: a fresh database of this session on the machine's PostgreSQL (dropped
after). `database_url` / `engine`: a SQLite file per test and, when the machine's
PostgreSQL answers, that session database; tests that take them run once per backend.
PostgreSQL cases are skipped, with the reason, only when the server is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from store import make_engine, upgrade_database
from tests.postgres import PG_HOST, PG_PORT, PG_USER, admin_connect


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test session on the machine's PostgreSQL (dropped after)."""
    try:
        admin = admin_connect()
    except Exception as error:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {error}")
    name = f"gateway_tests_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    yield f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    admin = admin_connect()  # a fault test may have restarted the server meanwhile
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


TABLES = ("audit_records", "api_keys", "drift_samples")


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
