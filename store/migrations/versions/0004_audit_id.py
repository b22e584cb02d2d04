"""Audit records keyed by the gateway's audit id; the client's request id is an attribute.

A call retried with the same request id (after a refusal, say) now keeps one row per
attempt. Existing rows were unique on their request id, so it becomes their audit id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("audit_id", sa.Text(), nullable=True))
    op.execute("UPDATE audit_records SET audit_id = request_id")
    with op.batch_alter_table("audit_records") as batch:
        batch.alter_column("audit_id", existing_type=sa.Text(), nullable=False)
        batch.drop_constraint("pk_audit_records", type_="primary")
        batch.create_primary_key("pk_audit_records", ["audit_id"])
        batch.create_index("ix_audit_records_request_id", ["request_id"])


def downgrade() -> None:
    # Only possible while every request id is unique (no retried call kept two attempts).
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_index("ix_audit_records_request_id")
        batch.drop_constraint("pk_audit_records", type_="primary")
        batch.create_primary_key("pk_audit_records", ["request_id"])
        batch.drop_column("audit_id")
