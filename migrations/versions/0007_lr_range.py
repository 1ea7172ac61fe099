"""The LR range test: its state and chosen ranges, and its sweeps' curves.

- ``lr_range_tests``: one row per search with ``[search] lr_range = "auto"``: the sweeps it
  runs first, ``state`` ("sweeping", then "done"), the range chosen per optimizer with why
  (``ranges_json``), and the searched trials the sweeps' updates cost (``charge``).
- ``lr_sweeps``: each sweep that ended for good: optimizer, seed, state, updates run, the
  updates a trial trains, and its curve (JSON).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lr_range_tests",
        sa.Column(
            "search_id",
            sa.Integer,
            sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sweeps", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ranges_json", sa.Text, nullable=True),
        sa.Column("charge", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sweep_updates", sa.Integer, nullable=False, server_default="0"),
        sa.Column("trial_updates", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "lr_sweeps",
        sa.Column(
            "search_id",
            sa.Integer,
            sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("trial_number", sa.Integer, primary_key=True),
        sa.Column("optimizer", sa.String(16), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("updates", sa.Integer, nullable=False),
        sa.Column("trial_updates", sa.Integer, nullable=True),
        sa.Column("curve_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("lr_sweeps")
    op.drop_table("lr_range_tests")
