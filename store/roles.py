"""Least privilege on PostgreSQL: what the gateway's own role may do.

Migrations run as the tables' owner (`sentiment db upgrade`, a one-off task on ECS). The
gateway connects as a role that may add and read audit records, drift samples, shadow
predictions and rollout events, read API keys and rollouts, and end a rollout (its
guardrail), and nothing else: it cannot alter or delete an audit record, whatever a bug or
an attacker inside the gateway tries. Retention (deleting old rows) runs as the owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from sqlalchemy import Connection, Engine, text

ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

INSERT_AND_READ = ("audit_records", "drift_samples", "shadow_predictions", "rollout_events")
READ_ONLY = ("api_keys", "alembic_version")
ROLLOUT_END_COLUMNS = ("state", "ended_at", "ended_by", "end_reason")
"""The columns of `rollouts` the gateway may set: its guardrail ends a rollout, and
nothing else about one."""
ALL_TABLES = (*INSERT_AND_READ, READ_ONLY[0], "drift_results", "retention_runs", "rollouts")


def create_gateway_role(
    engine: Engine, role: str, *, password: str | None = None, iam_group: str = "rds_iam"
) -> list[str]:
    """Create the LOGIN role `role` when it is missing; what was changed (empty: nothing).

    Without `password` the role logs in with IAM tokens: where the `iam_group` role exists
    (`rds_iam` on RDS) it is granted, also to a role that already existed. With `password`
    a new role gets it, sent as a SCRAM-SHA-256 verifier so that the statement log (RDS
    logs DDL) never holds the password; an existing role keeps its password (`ALTER ROLE` changes
    it). Run as a role that may create roles (the RDS master user). No-op on SQLite.
    """
    if engine.dialect.name != "postgresql":
        return []
    _check_name(role)
    _check_name(iam_group)
    changes = []
    with engine.begin() as connection:
        found = connection.execute(
            text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        if found is None:
            if password is None:
                connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            else:
                connection.execute(
                    text(f'CREATE ROLE "{role}" LOGIN PASSWORD :verifier'),
                    {"verifier": scram_sha256_verifier(password)},
                )
            changes.append(f"created role {role} (LOGIN)")
        elif not found.rolcanlogin:
            connection.execute(text(f'ALTER ROLE "{role}" LOGIN'))
            changes.append(f"role {role} may now log in")
        if password is None and _member_missing(connection, role, iam_group):
            connection.execute(text(f'GRANT "{iam_group}" TO "{role}"'))
            changes.append(f"granted {iam_group} to {role} (IAM authentication)")
    return changes


def _member_missing(connection: Connection, role: str, group: str) -> bool:
    """True when `group` exists and `role` is not yet a member of it."""
    row = connection.execute(
        text("SELECT pg_has_role(:role, oid, 'MEMBER') FROM pg_roles WHERE rolname = :group"),
        {"role": role, "group": group},
    ).first()
    return row is not None and not row[0]


def scram_sha256_verifier(password: str, *, iterations: int = 4096) -> str:
    """PostgreSQL's stored form of `password` (as `psql \\password` sends it), RFC 5802.

    The server checks logins against it and cannot recover the password from it. Only
    ASCII passwords skip SASLprep unchanged; others are refused rather than mis-hashed.
    """
    if not password or not password.isascii():
        raise ValueError("the gateway role's password must be non-empty ASCII")
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    encoded = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${iterations}:{encoded[0]}${encoded[1]}:{encoded[2]}"


def _check_name(role: str) -> None:
    if not ROLE.match(role):
        raise ValueError(f"invalid role name {role!r}: lower-case letters, digits and _")


def grant_gateway_role(engine: Engine, role: str) -> None:
    """Give the existing PostgreSQL role `role` exactly the gateway's rights (idempotent).

    Run as the owner of the tables, after migrating. A no-op on SQLite (no roles).
    """
    if engine.dialect.name != "postgresql":
        return
    _check_name(role)
    with engine.begin() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        if exists is None:
            raise ValueError(
                f"no PostgreSQL role {role!r}: create it (LOGIN) first, or add --create-role"
            )
        connection.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        for table in ALL_TABLES:  # start from nothing: earlier grants may have been wider
            connection.execute(text(f'REVOKE ALL ON TABLE "{table}" FROM "{role}"'))
        for table in INSERT_AND_READ:
            connection.execute(text(f'GRANT SELECT, INSERT ON TABLE "{table}" TO "{role}"'))
        for table in READ_ONLY:
            connection.execute(text(f'GRANT SELECT ON TABLE "{table}" TO "{role}"'))
        columns = ", ".join(f'"{c}"' for c in ROLLOUT_END_COLUMNS)
        connection.execute(
            text(f'GRANT SELECT, UPDATE ({columns}) ON TABLE "rollouts" TO "{role}"')
        )
