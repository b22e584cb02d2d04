"""A statement timeout on the real PostgreSQL: a hung statement fails in its time, not later."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from store import make_engine


def test_a_statement_over_the_timeout_is_cancelled(postgres_url: str) -> None:
    bounded = make_engine(postgres_url, statement_timeout_s=0.3)
    unbounded = make_engine(postgres_url)
    try:
        with bounded.connect() as connection:
            connection.execute(text("SELECT pg_sleep(0.05)"))  # within it: fine
            with pytest.raises(exc.OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(5)"))
        with unbounded.connect() as connection:
            connection.execute(text("SELECT pg_sleep(0.5)"))  # no timeout by default
    finally:
        bounded.dispose()
        unbounded.dispose()
