"""lrsearch's own tables (prefixed ``lr_``), next to Optuna's in the same database.

Created and upgraded by the Alembic migrations in ``lrsearch/store/migrations`` only; this module
is the schema the code reads and writes, and a test checks it matches the migrations' head.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

SEARCH_STATUSES = ("queued", "running", "stopping", "done", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")

searches = sa.Table(
    "lr_searches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("task", sa.String(256), nullable=False),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("trial_budget", sa.Integer, nullable=False),
    # Slots taken: finished trials plus trials in flight. Claims are a conditional UPDATE on
    # this counter, which is what keeps the budget exact across processes and hosts.
    sa.Column("trials_claimed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_complete", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_pruned", sa.Integer, nullable=False, server_default="0"),
    sa.Column("n_failed", sa.Integer, nullable=False, server_default="0"),
    # Trials abandoned (interrupted, worker lost) whose slot went back to the budget.
    sa.Column("n_retried", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.CheckConstraint("trials_claimed >= 0", name="ck_lr_searches_claimed"),
)

best = sa.Table(
    "lr_best",
    metadata,
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
