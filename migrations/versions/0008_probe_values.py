"""The anneal pruner's probes, and the pruners' references: completed trials only.

- ``lr_epoch_metrics.probe_value``: the value a trial reached when its LR was annealed at that
  epoch (an anneal probe), or its estimate between probes, or the value itself when nothing
  was left to decay. NULL elsewhere.
- ``lr_epoch_metrics.complete``: set when the trial completes, in the transaction that counts
  it. The schedule-aware and anneal pruners compare a trial only with completed trials, as
  Optuna's median pruner does. Rows written before this revision are marked from their
  trial's lease (a lease closed as complete).
- ``ix_lr_epoch_metrics_rung`` gains ``complete`` after ``epoch``;
  ``ix_lr_epoch_metrics_probe`` on (search_id, epoch, complete, probe_value): one rung's
  references, read by one statement per decision whatever the trial count.

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
    op.add_column(
        "lr_epoch_metrics",
        sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE lr_epoch_metrics SET complete = TRUE WHERE EXISTS ("
        " SELECT 1 FROM lr_trials l WHERE l.search_id = lr_epoch_metrics.search_id"
        " AND l.trial_number = lr_epoch_metrics.trial_number AND l.status = 'complete')"
    )
    op.drop_index("ix_lr_epoch_metrics_rung", table_name="lr_epoch_metrics")
    op.create_index(
        "ix_lr_epoch_metrics_rung",
        "lr_epoch_metrics",
        ["search_id", "epoch", "complete", "decay_left", "value"],
    )
    op.create_index(
        "ix_lr_epoch_metrics_probe",
        "lr_epoch_metrics",
        ["search_id", "epoch", "complete", "probe_value"],
    )


def downgrade() -> None:
    op.drop_index("ix_lr_epoch_metrics_probe", table_name="lr_epoch_metrics")
    op.drop_index("ix_lr_epoch_metrics_rung", table_name="lr_epoch_metrics")
    op.create_index(
        "ix_lr_epoch_metrics_rung",
        "lr_epoch_metrics",
        ["search_id", "epoch", "decay_left", "value"],
    )
    with op.batch_alter_table("lr_epoch_metrics") as batch:
        batch.drop_column("complete")
        batch.drop_column("probe_value")
