"""The gateway's PostgreSQL role, on the real PostgreSQL: it adds and reads audit records,
and cannot change or delete one (nor touch the key table)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from sentiment.cli.operator import db_upgrade
from store import make_engine
from tests.postgres import admin_connect


@pytest.fixture
def gateway_role(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A fresh LOGIN role, granted by `sentiment db upgrade --gateway-role`, and an engine
    connected as it."""
    role = f"gateway_{secrets.token_hex(4)}"
    admin = admin_connect()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
    monkeypatch.setenv("SENTIMENT_DATABASE_URL", postgres_url)
    args = type("Args", (), {"gateway_role": role})()
    assert db_upgrade(args) == 0  # type: ignore[arg-type]
    engine = make_engine(make_url(postgres_url).set(username=role, password=None))
    yield engine
    engine.dispose()
    owner = make_engine(postgres_url)
    with owner.begin() as connection:
        connection.execute(text(f'DROP OWNED BY "{role}"'))
    owner.dispose()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP ROLE "{role}"')
    admin.close()


def test_the_gateway_role_inserts_and_reads_but_never_rewrites(gateway_role: Engine) -> None:
    audit_id = f"role-{secrets.token_hex(4)}"
    now = datetime.now(UTC)
    with gateway_role.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_records (audit_id, request_id, method, received_at, "
                "completed_at, latency_ms, status, text_sha256, predictions) VALUES "
                "(:id, :id, 'Predict', :now, :now, 1.0, 'OK', '[]', '[]')"
            ),
            {"id": audit_id, "now": now},
        )
        assert (
            connection.execute(
                text("SELECT status FROM audit_records WHERE audit_id = :id"), {"id": audit_id}
            ).scalar_one()
            == "OK"
        )
        connection.execute(text("SELECT key_id, secret_hash FROM api_keys LIMIT 1"))
    for statement in (
        "UPDATE audit_records SET status = 'INTERNAL' WHERE audit_id = :id",
        "DELETE FROM audit_records WHERE audit_id = :id",
        "TRUNCATE audit_records",
        "UPDATE api_keys SET revoked_at = NULL",
        "DELETE FROM drift_samples",
        "DROP TABLE audit_records",
    ):
        denied = pytest.raises(ProgrammingError, match=r"permission denied|must be owner")
        with denied, gateway_role.begin() as connection:
            connection.execute(text(statement), {"id": audit_id})


def test_the_gateway_persistence_works_as_the_role(gateway_role: Engine, tmp_path: Any) -> None:
    from gateway.persistence.audit import SpooledAuditLog
    from tests.gateway.persistence.persistence_helpers import audit_counts, make_record, run

    request_id = f"as-role-{secrets.token_hex(4)}"

    async def body() -> None:
        log = await SpooledAuditLog.open(gateway_role, tmp_path)
        await log.append(make_record(request_id))
        assert await log.drained(20) and log.write_errors == 0
        assert await log.close()

    run(body())
    assert audit_counts(gateway_role)[request_id] == 1


def test_the_gateway_role_may_end_a_rollout_and_nothing_more(
    gateway_role: Engine, postgres_url: str
) -> None:
    from store import rollouts

    owner = make_engine(postgres_url)
    try:
        with owner.begin() as connection:  # the session database may hold an active one
            connection.execute(
                text("UPDATE rollouts SET state = 'rolled_back' WHERE state = 'active'")
            )
        started = rollouts.start(owner, 1, 2, rollouts.CANARY, 10.0, "operator")
    finally:
        owner.dispose()
    ended = rollouts.end(
        gateway_role,
        started.id,
        rollouts.ROLLED_BACK,
        "gateway-guardrail",
        "guardrail_rollback",
        "why",
    )
    assert ended is not None and ended.state == rollouts.ROLLED_BACK
    assert rollouts.latest(gateway_role) == ended
    for statement in (
        "UPDATE rollouts SET candidate_version = 9 WHERE id = :id",
        "UPDATE rollouts SET served_version = 9 WHERE id = :id",
        "DELETE FROM rollouts WHERE id = :id",
        "DELETE FROM rollout_events WHERE rollout_id = :id",
        "UPDATE rollout_events SET actor = 'someone' WHERE rollout_id = :id",
        "DELETE FROM shadow_predictions WHERE rollout_id = :id",
    ):
        with (
            pytest.raises(ProgrammingError, match="permission denied"),
            gateway_role.begin() as connection,
        ):
            connection.execute(text(statement), {"id": started.id})
