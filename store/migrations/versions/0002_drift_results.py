"""Drift results: one row per run of the drift job (`sentiment drift`).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drift_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("computed_at", UTC_TIME, nullable=False),
        sa.Column("window_start", UTC_TIME, nullable=False),
        sa.Column("window_end", UTC_TIME, nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("dataset_drift", sa.Boolean(), nullable=True),
        sa.Column("prediction_drift", sa.Boolean(), nullable=True),
        sa.Column("drift_share", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reference_run_id", sa.String(64), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("mlflow_run_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_drift_results"),
    )
    op.create_index("ix_drift_results_computed_at", "drift_results", ["computed_at"])


def downgrade() -> None:
    op.drop_index("ix_drift_results_computed_at", table_name="drift_results")
    op.drop_table("drift_results")
