"""API keys, audit records, drift samples.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_index(
        "uq_api_keys_active_name",
        "api_keys",
        ["name"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "audit_records",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("completed_at", UTC_TIME, nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("texts", sa.JSON(), nullable=True),
        sa.Column("text_sha256", sa.JSON(), nullable=False),
        sa.Column("predictions", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("stored_at", UTC_TIME, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_audit_records"),
    )
    op.create_index("ix_audit_records_key_id", "audit_records", ["key_id"])
    op.create_index("ix_audit_records_received_at", "audit_records", ["received_at"])
    op.create_table(
        "drift_samples",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("sampled_at", UTC_TIME, nullable=False),
        sa.Column("text_length", sa.Integer(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("unknown_token_rate", sa.Float(), nullable=False),
        sa.Column("non_ascii_share", sa.Float(), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("mlflow_run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "index", name="pk_drift_samples"),
    )
    op.create_index("ix_drift_samples_sampled_at", "drift_samples", ["sampled_at"])


def downgrade() -> None:
    op.drop_table("drift_samples")
    op.drop_table("audit_records")
    op.drop_table("api_keys")
