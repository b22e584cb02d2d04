"""Rollouts: their state and transitions, and the candidate's answers to shadowed calls.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("served_version", sa.Integer(), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("canary_percent", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("ended_by", sa.String(128), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index(op.f("ix_rollouts_started_at"), "rollouts", ["started_at"])
    op.create_index(
        "ux_rollouts_one_active",
        "rollouts",
        ["state"],
        unique=True,
        postgresql_where=sa.text("state = 'active'"),
        sqlite_where=sa.text("state = 'active'"),
    )
    op.create_table(
        "rollout_events",
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_rollout_events")),
    )
    op.create_index(op.f("ix_rollout_events_rollout_id"), "rollout_events", ["rollout_id"])
    op.create_index(op.f("ix_rollout_events_at"), "rollout_events", ["at"])
    op.create_table(
        "shadow_predictions",
        sa.Column("shadow_id", sa.String(32), nullable=False),
        sa.Column("audit_id", sa.Text(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("served_version", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("predictions", sa.JSON(), nullable=False),
        sa.Column("agree", sa.Boolean(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("shadow_id", name=op.f("pk_shadow_predictions")),
    )
    for column in ("audit_id", "rollout_id", "created_at"):
        op.create_index(op.f(f"ix_shadow_predictions_{column}"), "shadow_predictions", [column])


def downgrade() -> None:
    op.drop_table("shadow_predictions")
    op.drop_table("rollout_events")
    op.drop_table("rollouts")
