"""lr_searches and lr_best: searches with their trial budget, and the materialized best.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lr_searches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("task", sa.String(256), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("trial_budget", sa.Integer, nullable=False),
        sa.Column("trials_claimed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_complete", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_pruned", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("n_retried", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.CheckConstraint("trials_claimed >= 0", name="ck_lr_searches_claimed"),
    )
    op.create_table(
        "lr_best",
        sa.Column(
            "search_id",
            sa.Integer,
            sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("trial_number", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lr_best")
    op.drop_table("lr_searches")
