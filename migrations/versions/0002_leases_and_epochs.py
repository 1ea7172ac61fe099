"""lr_trials (leases with heartbeats) and lr_epoch_metrics (per-trial, per-epoch results).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lr_trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "search_id",
            sa.Integer,
            sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("trial_number", sa.Integer, nullable=True),
        sa.Column("optuna_trial_id", sa.Integer, nullable=True),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_lr_trials_search_id", "lr_trials", ["search_id"])
    op.create_index("ix_lr_trials_status_heartbeat", "lr_trials", ["status", "heartbeat_at"])
    op.create_table(
        "lr_epoch_metrics",
        sa.Column(
            "search_id",
            sa.Integer,
            sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("trial_number", sa.Integer, primary_key=True),
        sa.Column("epoch", sa.Integer, primary_key=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("train_loss", sa.Float, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("lr", sa.Float, nullable=True),
        sa.Column("seconds", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("lr_epoch_metrics")
    op.drop_index("ix_lr_trials_status_heartbeat", table_name="lr_trials")
    op.drop_index("ix_lr_trials_search_id", table_name="lr_trials")
    op.drop_table("lr_trials")
