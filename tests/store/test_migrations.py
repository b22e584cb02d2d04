from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from store import Base, current_revision, make_engine, upgrade_database


def test_migrations_create_every_table_on_an_empty_database(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        if "postgresql" in database_url:  # the session database may hold other tests' tables
            with engine.begin() as connection:
                Base.metadata.drop_all(connection)
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        assert current_revision(engine) is None
        upgrade_database(engine)
        upgrade_database(engine)  # idempotent: the gateway and the CLI both run it
        assert current_revision(engine) == "0003"
        assert set(inspect(engine).get_table_names()) >= {
            "api_keys",
            "audit_records",
            "drift_samples",
            "drift_results",
            "retention_runs",
        }
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []  # models == migrations
    finally:
        engine.dispose()
