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
        assert current_revision(engine) == "0006"
        assert set(inspect(engine).get_table_names()) >= {
            "api_keys",
            "audit_records",
            "drift_samples",
            "drift_results",
            "retention_runs",
            "rollouts",
            "rollout_events",
            "shadow_predictions",
        }
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []  # models == migrations
    finally:
        engine.dispose()


def test_audit_rows_of_an_earlier_release_keep_their_request_id_as_audit_id(
    database_url: str,
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade_database(engine, "0003")  # the schema keyed by request id
        now = datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_records (request_id, method, received_at, completed_at,"
                    " latency_ms, status, text_sha256, predictions) VALUES"
                    " (:id, 'Predict', :now, :now, 1.0, 'OK', '[]', '[]')"
                ),
                [{"id": "old-1", "now": now}, {"id": "old-2", "now": now}],
            )
        upgrade_database(engine)
        with engine.begin() as connection:
            carried = connection.execute(
                text("SELECT audit_id, request_id FROM audit_records ORDER BY request_id")
            ).all()
            assert [tuple(row) for row in carried] == [("old-1", "old-1"), ("old-2", "old-2")]
            connection.execute(  # a second attempt with an old request id now has its own row
                text(
                    "INSERT INTO audit_records (audit_id, request_id, method, received_at,"
                    " completed_at, latency_ms, status, text_sha256, predictions) VALUES"
                    " ('new-attempt', 'old-1', 'Predict', :now, :now, 1.0, 'OK', '[]', '[]')"
                ),
                {"now": now},
            )
            count = connection.execute(
                text("SELECT COUNT(*) FROM audit_records WHERE request_id = 'old-1'")
            ).scalar_one()
        assert count == 2
    finally:
        engine.dispose()
