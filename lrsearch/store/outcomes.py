"""Recording what trials did: their outcome (with the best), and their per-epoch results."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from lrsearch.store.baselines import TunedBest, baselines_due, open_baselines, settle_baseline
from lrsearch.store.confirmations import (
    Leader,
    confirmations_due,
    keep_leader,
    open_confirmations,
    settle_confirmation,
)
from lrsearch.store.counters import close_lease, count, update_best
from lrsearch.store.failures import counts_toward_stop, stop_if_failing
from lrsearch.store.leases import Lease
from lrsearch.store.models import best, epoch_metrics, searches
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import Best, Search, lock_search, transaction, utc

EpochRow = tuple[int, Mapping[str, float], float]


def record_trial(
    engine: Engine,
    lease: Lease,
    *,
    outcome: Outcome | str,
    trial_number: int,
    value: float | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str | None = None,
    stop_after_failures: int = 0,
) -> bool:
    """Count a finished trial and close its lease; a complete one may become the best.

    All in one transaction. Returns False (and changes nothing) when the lease was already
    reaped, so a worker that was presumed dead never counts a trial twice. A failure may stop
    the search: when its first ``stop_after_failures`` trials all failed with ``reason``
    (see failures.py).
    """
    with transaction(engine) as conn:
        recorded = record_trial_in(
            conn,
            lease,
            outcome=Outcome(outcome),
            trial_number=trial_number,
            value=value,
            config=config,
            reason=reason,
            stop_after_failures=stop_after_failures,
        )
    return recorded.recorded


@dataclass(frozen=True)
class Confirming:
    """How a search confirms its top trials (``top_k = 0``: it does not); what a trial being
    recorded is to it (``key``: the confirmation (trial confirmed, repeat) it is, None for a
    searched trial or a baseline; ``searched``: one of the search's own trials)."""

    top_k: int = 0
    seeds: int = 0
    key: tuple[int, int] | None = None
    searched: bool = True


NOT_CONFIRMING = Confirming()


@dataclass(frozen=True)
class Recorded:
    """What recording a trial did: counted it (False: the lease was reaped), whether it
    opened the search's baselines (then the tuned best they are built from), and the leaders
    whose confirmations it opened (empty: none)."""

    recorded: bool
    opened: TunedBest | None = None
    confirming: tuple[Leader, ...] = ()


def record_trial_in(
    conn: sa.Connection,
    lease: Lease,
    *,
    outcome: Outcome,
    trial_number: int,
    value: float | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str | None = None,
    stop_after_failures: int = 0,
    baseline: str | None = None,
    baselines: int = 0,
    confirming: Confirming = NOT_CONFIRMING,
) -> Recorded:
    """:func:`record_trial` in the caller's transaction. ``baseline``: the trial is that
    baseline (its ``lr_baselines`` row is settled); ``baselines``: how many baselines the
    search runs after its own trials; ``confirming``: how it confirms its top trials, and
    what this trial is to that (a confirmation's row is settled; a searched trial may enter
    the leaders). Counting its last own trial opens the baselines' and the confirmations'
    slots (unless the failure it records stopped the search).

    A confirmation never becomes ``lr_best``: its seed was not searched, and the confirmed
    best is read from its own rows (service/confirmed.py)."""
    search = lock_search(conn, lease.search_id)
    if not close_lease(conn, lease.id, outcome, reason):
        return Recorded(False)
    return settle_counted(
        conn,
        search,
        outcome=outcome,
        trial_number=trial_number,
        value=value,
        config=config,
        reason=reason,
        stop_after_failures=stop_after_failures,
        baseline=baseline,
        baselines=baselines,
        confirming=confirming,
    )


def settle_counted(
    conn: sa.Connection,
    search: Search,
    *,
    outcome: Outcome,
    trial_number: int,
    value: float | None,
    config: Mapping[str, Any] | None,
    reason: str | None,
    stop_after_failures: int = 0,
    baseline: str | None = None,
    baselines: int = 0,
    confirming: Confirming = NOT_CONFIRMING,
) -> Recorded:
    """After a lease was closed with ``outcome`` (under the search's lock, ``search`` as
    locked before): count it, maybe the best and a leader, settle a baseline's or a
    confirmation's row, and open the baselines' and confirmations' slots when this was the
    search's last own trial. Shared by recording a trial and the reaper counting one."""
    count(conn, search, outcome)
    counted_complete(conn, search, trial_number, outcome, value, config, confirming)
    failing = outcome is Outcome.FAILED and reason is not None and counts_toward_stop(reason)
    if failing and stop_if_failing(conn, search, reason or "", stop_after_failures):
        return Recorded(True)  # stopped: no baselines, no confirmations
    if baseline is not None and outcome.final:
        settle_baseline(conn, search.id, baseline, trial_number, outcome, value)
    if confirming.key is not None and outcome.final:
        settle_confirmation(conn, search.id, confirming.key, trial_number, outcome, value)
    own = baseline is None and confirming.searched
    opened = (
        open_baselines(conn, search, baselines)
        if own and baselines_due(search, outcome, baselines)
        else None
    )
    leaders: list[Leader] = []
    if own and confirmations_due(search, outcome, confirming.top_k * confirming.seeds):
        leaders = open_confirmations(conn, search, confirming.top_k, confirming.seeds)
    return Recorded(True, opened, tuple(leaders))


def counted_complete(
    conn: sa.Connection,
    search: Search,
    trial_number: int,
    outcome: Outcome,
    value: float | None,
    config: Mapping[str, Any] | None,
    confirming: Confirming,
) -> None:
    """A complete trial may become the best (not a confirmation), and one of the search's own
    may enter its leaders; its epoch rows become references of the pruners. Shared by
    recording a trial and the reaper counting one."""
    if outcome is not Outcome.COMPLETE:
        return
    m = epoch_metrics.c
    conn.execute(
        epoch_metrics.update()
        .where(m.search_id == search.id, m.trial_number == trial_number)
        .values(complete=True)
    )
    if value is None or config is None:
        return
    if confirming.key is None:
        update_best(conn, search, trial_number, value, config)
    if confirming.searched:
        keep_leader(conn, search, trial_number, value, config, confirming.top_k)


def record_epochs(
    engine: Engine, search_id: int, trial_number: int, rows: Sequence[EpochRow]
) -> None:
    """Per-epoch results ``(epoch, metrics, value)``: train loss, the metric, LR and seconds.

    One transaction for all the rows: workers batch them, to keep database round trips (and,
    on SQLite, lock hand-offs between workers) off the per-epoch path. Safe to repeat.
    """
    if rows:
        with transaction(engine) as conn:
            insert_epochs(conn, search_id, trial_number, rows)


def insert_epochs(
    conn: sa.Connection, search_id: int, trial_number: int, rows: Sequence[EpochRow]
) -> None:
    """Insert epoch rows in the caller's transaction, one statement; rows already there stay.

    Insert-or-ignore on (search, trial, epoch): a retry after a COMMIT whose reply was lost
    finds its rows written and must not fail on the duplicate key.
    """
    if not rows:
        return
    values = [
        {
            "search_id": search_id,
            "trial_number": trial_number,
            "epoch": epoch,
            "step": int(metrics.get("step", 0)),
            "train_loss": _finite(metrics.get("train_loss")),
            "value": _finite(value),
            "lr": _finite(metrics.get("lr")),
            "seconds": _finite(metrics.get("seconds")),
            "decay_left": _finite(metrics.get("decay_left")),
            "probe_value": _finite(metrics.get("probe_value")),
        }
        for epoch, metrics, value in rows
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(epoch_metrics).values(values).on_conflict_do_nothing())


def epochs_of(engine: Engine, name: str, trial_number: int) -> list[dict[str, Any]]:
    """The per-epoch rows of trial ``trial_number`` of search ``name``, by epoch."""
    query = (
        sa.select(epoch_metrics)
        .join(searches, searches.c.id == epoch_metrics.c.search_id)
        .where(searches.c.name == name, epoch_metrics.c.trial_number == trial_number)
        .order_by(epoch_metrics.c.epoch)
    )
    with transaction(engine) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def get_best(engine: Engine, name: str) -> Best | None:
    """The best complete trial of the search, or None while none has completed."""
    query = (
        sa.select(best.c.trial_number, best.c.value, best.c.config_json, best.c.updated_at)
        .join(searches, searches.c.id == best.c.search_id)
        .where(searches.c.name == name)
    )
    with transaction(engine) as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Best(row.trial_number, row.value, json.loads(row.config_json), utc(row.updated_at))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
