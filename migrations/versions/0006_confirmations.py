"""Confirmations: the search's top configs re-run on fresh seeds after its own trials.

- ``lr_searches.confirm_trials``: slots added for the confirmations once the search's own
  trials were all finished (0 until then).
- ``lr_leaders``: the search's best complete trials of its own (at most ``top_k``), kept while
  it runs, as ``lr_best`` keeps the best: opening the confirmations reads them, no trial.
- ``lr_confirmations``: each confirmation (the trial it confirms, which repeat), its config on
  its fresh seed, and how it ended: what ``best`` reads for the confirmed best.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _search_key() -> sa.Column[int]:
    return sa.Column(
        "search_id",
        sa.Integer,
        sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.add_column(
        "lr_searches",
        sa.Column("confirm_trials", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "lr_leaders",
        _search_key(),
        sa.Column("trial_number", sa.Integer, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
    )
    op.create_table(
        "lr_confirmations",
        _search_key(),
        sa.Column("confirms", sa.Integer, primary_key=True),
        sa.Column("seed_index", sa.Integer, primary_key=True),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("confirmed_value", sa.Float, nullable=False),
        sa.Column("trial_number", sa.Integer, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("lr_confirmations")
    op.drop_table("lr_leaders")
    with op.batch_alter_table("lr_searches") as batch:
        batch.drop_column("confirm_trials")
