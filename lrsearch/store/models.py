"""lrsearch's own tables (prefixed ``lr_``), next to Optuna's in the same database.

Created and upgraded by the Alembic migrations in ``migrations/`` (the package
``lrsearch.migrations``) only; this module is the schema the code reads and writes, and a test
checks it matches the migrations' head.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

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
    # Slots added for the classic baselines once the search's own trials were all finished:
    # the search's budget is all search, and the baselines run after it (space/baselines.py).
    sa.Column("baseline_trials", sa.Integer, nullable=False, server_default="0"),
    # Slots added for the confirmations (the top configs on fresh seeds), opened with the
    # baselines' (space/confirm.py); 0 until then.
    sa.Column("confirm_trials", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("trials_claimed >= 0", name="ck_lr_searches_claimed"),
    # Ids are never reused (SQLite would hand a deleted last row's id to the next search):
    # agents cache a search's context by its id.
    sqlite_autoincrement=True,
)

LEASE_ACTIVE = ("claimed", "running")

# One row per claimed slot: which worker holds it, its heartbeat, and how it ended. A lease
# whose heartbeat is older than the stale timeout belongs to a dead worker and is reaped.
trials = sa.Table(
    "lr_trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "search_id",
        sa.Integer,
        sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
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
    sa.Index("ix_lr_trials_status_heartbeat", "status", "heartbeat_at"),
    sa.Index("ix_lr_trials_search_number", "search_id", "trial_number"),
)

# Per-trial, per-epoch results: what the API and plots read without scanning Optuna's tables.
epoch_metrics = sa.Table(
    "lr_epoch_metrics",
    metadata,
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
    # log10 of the trial's LR now over the lowest LR still ahead of it: the schedule-aware
    # pruner compares a trial only with trials that have at least as much decay left.
    # NULL keeps a row out of every reference set (baselines).
    sa.Column("decay_left", sa.Float, nullable=True),
    # The value the trial reaches when its LR is annealed at this epoch (the anneal pruner's:
    # measured by a probe, or estimated from the last one; NULL under other pruners): the
    # anneal pruner compares these.
    sa.Column("probe_value", sa.Float, nullable=True),
    # Set when the trial completes (in the transaction that counts it): lrsearch's pruners,
    # like Optuna's median pruner, compare a trial only with completed trials.
    sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_lr_epoch_metrics_rung", "search_id", "epoch", "complete", "decay_left", "value"),
    sa.Index("ix_lr_epoch_metrics_probe", "search_id", "epoch", "complete", "probe_value"),
)

# The classic baselines of a search, opened once its own trials are all finished: each one's
# config (the tuned best's optimizer, peak LR, warmup and seed with a classic decay), the tuned
# best it is compared with, and how it ended (state "queued" until then).
baselines = sa.Table(
    "lr_baselines",
    metadata,
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

# The search's best complete trials of its own (not baselines, not confirmations), kept while
# it runs when it confirms its top ones: at most ``top_k`` rows, as lr_best keeps the best, so
# opening the confirmations reads them without reading any trial.
leaders = sa.Table(
    "lr_leaders",
    metadata,
    sa.Column(
        "search_id",
        sa.Integer,
        sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("trial_number", sa.Integer, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("config_json", sa.Text, nullable=False),
)

# One row per confirmation trial: the trial it confirms (and its value), which repeat, the
# config on its fresh seed, and how it ended (state "queued" until then).
confirmations = sa.Table(
    "lr_confirmations",
    metadata,
    sa.Column(
        "search_id",
        sa.Integer,
        sa.ForeignKey("lr_searches.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("confirms", sa.Integer, primary_key=True),
    sa.Column("seed_index", sa.Integer, primary_key=True),
    sa.Column("config_json", sa.Text, nullable=False),
    sa.Column("confirmed_value", sa.Float, nullable=False),
    sa.Column("trial_number", sa.Integer, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
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

# One row per agent process (`lrsearch worker`), beating with its heartbeat thread: what
# `/ready` and `GET /v1/agents` count. An agent silent for the stale window is presumed dead.
agents = sa.Table(
    "lr_agents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),  # host:pid, as its leases' `worker`
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_lr_agents_heartbeat", "heartbeat_at"),
    sqlite_autoincrement=True,
)

# The LR range test of a search (``[search] lr_range = "auto"``): how many sweeps it runs
# first, whether its range is known ("sweeping" until the last sweep ends, then "done"), the
# range chosen per optimizer with why, and the searched trials its updates cost. While it is
# sweeping, claims take only the sweeps' slots (leases.claim_trial).
range_tests = sa.Table(
    "lr_range_tests",
    metadata,
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

# One row per sweep that ended for good: its optimizer and seed, how it ended, the updates it
# ran, and its curve (LRs, losses, the smoothed loss and what was read from it).
sweeps = sa.Table(
    "lr_sweeps",
    metadata,
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
