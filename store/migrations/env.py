"""Alembic environment: runs on the connection that `store.upgrade_database` passes.

Without one (plain `alembic` use), it connects to the URL of `DatabaseSettings`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from store.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from store.engine import make_engine
    from store.settings import DatabaseSettings

    settings = DatabaseSettings()
    engine = make_engine(settings.resolved_url(), iam_auth=settings.iam_auth)
    with engine.begin() as new_connection:
        _run(new_connection)
    engine.dispose()


run_migrations_online()
