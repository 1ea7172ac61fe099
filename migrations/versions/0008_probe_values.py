"""The anneal pruner's probes: each probe rung's annealed value.

- ``lr_epoch_metrics.probe_value``: the value a trial reached when its LR was annealed at that
  epoch (an anneal probe; the value itself when nothing was left to decay). NULL elsewhere.
- ``ix_lr_epoch_metrics_probe`` on (search_id, epoch, probe_value): one probe rung's annealed
  values, read by one statement per decision whatever the trial count.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lr_epoch_metrics", sa.Column("probe_value", sa.Float, nullable=True))
    op.create_index(
        "ix_lr_epoch_metrics_probe",
        "lr_epoch_metrics",
        ["search_id", "epoch", "probe_value"],
    )


def downgrade() -> None:
    op.drop_index("ix_lr_epoch_metrics_probe", table_name="lr_epoch_metrics")
    with op.batch_alter_table("lr_epoch_metrics") as batch:
        batch.drop_column("probe_value")
