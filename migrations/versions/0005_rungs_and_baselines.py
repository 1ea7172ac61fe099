"""Rung reads for the schedule-aware pruner; baseline slots counted apart.

- ``lr_epoch_metrics.decay_left``: how much the trial's LR still has to fall after this epoch
  (log10 of its LR now over the lowest LR still ahead), NULL for rows that never enter a
  pruner's reference set (baselines, trials whose schedule is unknown).
- ``ix_lr_epoch_metrics_rung`` on (search_id, epoch, decay_left, value): one rung's comparable
  values are one range of this index, however many trials or epochs the search has.
- ``lr_searches.baseline_trials``: slots added to the budget for the classic baselines once the
  search's own trials were all finished (0 until then).
- ``lr_baselines``: each baseline of a search, the tuned best it is compared with, and how it
  ended: what ``best`` reads, without reading any trial.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lr_epoch_metrics", sa.Column("decay_left", sa.Float, nullable=True))
    op.create_index(
        "ix_lr_epoch_metrics_rung",
        "lr_epoch_metrics",
        ["search_id", "epoch", "decay_left", "value"],
    )
    op.add_column(
        "lr_searches",
        sa.Column("baseline_trials", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "lr_baselines",
        sa.Column(
            "search_id",
            sa.Integer,
            sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("tuned_trial", sa.Integer, nullable=True),
        sa.Column("tuned_value", sa.Float, nullable=True),
        sa.Column("trial_number", sa.Integer, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("lr_baselines")
    op.drop_index("ix_lr_epoch_metrics_rung", table_name="lr_epoch_metrics")
    with op.batch_alter_table("lr_epoch_metrics") as batch:
        batch.drop_column("decay_left")
    with op.batch_alter_table("lr_searches") as batch:
        batch.drop_column("baseline_trials")
