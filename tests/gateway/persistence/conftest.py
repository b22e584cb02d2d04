"""Databases for the persistence tests: a SQLite file per test and, when the machine's
PostgreSQL answers, the fresh database of this session (`postgres_url`, tests/gateway).

Tests that take the `engine` fixture run once per backend. PostgreSQL cases are skipped,
with the reason, only when the server is unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gateway.db import make_engine, upgrade_database

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
