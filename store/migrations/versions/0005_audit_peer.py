"""Audit records name the caller's network peer and the request's size.

A refusal before authentication keeps no texts (the caller is unknown), so its record
says who sent how much instead.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("peer", sa.Text(), nullable=True))
        batch.add_column(sa.Column("request_bytes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("request_bytes")
        batch.drop_column("peer")
