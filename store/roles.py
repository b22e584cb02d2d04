"""Least privilege on PostgreSQL: what the gateway's own role may do.

Migrations run as the tables' owner (`sentiment db upgrade`, a one-off task on ECS). The
gateway connects as a role that may add and read audit records and drift samples and read
API keys, and nothing else: it cannot alter or delete an audit record, whatever a bug or
an attacker inside the gateway tries. Retention (deleting old rows) runs as the owner.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

INSERT_AND_READ = ("audit_records", "drift_samples")
READ_ONLY = ("api_keys", "alembic_version")
ALL_TABLES = (*INSERT_AND_READ, READ_ONLY[0], "drift_results", "retention_runs")


def grant_gateway_role(engine: Engine, role: str) -> None:
    """Give the existing PostgreSQL role `role` exactly the gateway's rights (idempotent).

    Run as the owner of the tables, after migrating. A no-op on SQLite (no roles).
    """
    if engine.dialect.name != "postgresql":
        return
    if not ROLE.match(role):
        raise ValueError(f"invalid role name {role!r}: lower-case letters, digits and _")
    with engine.begin() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        if exists is None:
            raise ValueError(f"no PostgreSQL role {role!r}: create it (LOGIN) first")
        connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        for table in ALL_TABLES:  # start from nothing: earlier grants may have been wider
            connection.execute(text(f'REVOKE ALL ON TABLE "{table}" FROM "{role}"'))
        for table in INSERT_AND_READ:
            connection.execute(text(f'GRANT SELECT, INSERT ON TABLE "{table}" TO "{role}"'))
        for table in READ_ONLY:
            connection.execute(text(f'GRANT SELECT ON TABLE "{table}" TO "{role}"'))
