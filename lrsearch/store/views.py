"""Read views for the HTTP service, and deleting a search's rows.

Each view costs a fixed number of indexed queries, whatever the number of trials: listing
searches and reading the best join ``lr_searches`` with ``lr_best``; a page of trials reads
``lr_trials`` by ``(search_id, trial_number)``. None of them reads Optuna's tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.errors import NotFoundError
from lrsearch.store.models import (
    LEASE_ACTIVE,
    baselines,
    best,
    confirmations,
    epoch_metrics,
    leaders,
    range_tests,
    searches,
    sweeps,
    trials,
)
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import Search
from lrsearch.store.rows import search_from as _search_from
from lrsearch.store.rows import transaction as _transaction
from lrsearch.store.rows import utc as _utc


@dataclass(frozen=True)
class SearchSummary:
    """A search with its best value: one row of the studies list."""

    search: Search
    best_value: float | None
    best_trial: int | None


@dataclass(frozen=True)
class TrialLease:
    """Where a trial of a search ran: lrsearch's lease row, with the Optuna trial it ran."""

    trial_number: int
    optuna_trial_id: int
    status: str  # claimed, running, complete, pruned, failed, released, stale
    attempt: int
    worker: str
    reason: str | None


_LEASE_COLUMNS = (
    trials.c.trial_number,
    trials.c.optuna_trial_id,
    trials.c.status,
    trials.c.attempt,
    trials.c.worker,
    trials.c.reason,
)


def _summaries_query() -> sa.Select[Any]:
    return sa.select(
        searches, best.c.value.label("best_value"), best.c.trial_number.label("best_trial")
    ).outerjoin(best, best.c.search_id == searches.c.id)


def _summary(row: sa.Row[Any]) -> SearchSummary:
    data = dict(row._mapping)
    best_value, best_trial = data.pop("best_value"), data.pop("best_trial")
    return SearchSummary(_search_from(data), best_value, best_trial)


def search_page(engine: Engine, *, limit: int, offset: int) -> tuple[list[SearchSummary], int]:
    """Searches in creation order, ``limit`` from ``offset``, and how many there are in all."""
    query = _summaries_query().order_by(searches.c.id).limit(limit).offset(offset)
    with _transaction(engine) as conn:
        rows = [_summary(row) for row in conn.execute(query)]
        total = conn.execute(sa.select(sa.func.count()).select_from(searches)).scalar_one()
    return rows, int(total)


def search_summary(engine: Engine, name: str) -> SearchSummary:
    """One search with its best value; NotFoundError if there is no such search."""
    with _transaction(engine) as conn:
        row = conn.execute(_summaries_query().where(searches.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no study named {name!r}")
    return _summary(row)


# Lease statuses as the Optuna trial states they stand for. A released or stale lease is an
# abandoned attempt: its Optuna trial was failed ("interrupted", "worker lost") and run again.
def _lease_states() -> dict[str, tuple[str, ...]]:
    """Trial state (as the API names it) -> the lease statuses that show it, from Outcome."""
    states: dict[str, tuple[str, ...]] = {"RUNNING": tuple(LEASE_ACTIVE)}
    for outcome in Outcome:
        states[outcome.state_name] = (*states.get(outcome.state_name, ()), outcome.lease_status)
    return states


LEASE_STATES = _lease_states()


def trial_page(
    engine: Engine,
    search_id: int,
    *,
    state: str | None,
    limit: int,
    offset: int,
) -> tuple[list[TrialLease], int]:
    """The search's trials by number (``state`` one of LEASE_STATES' keys), and their total."""
    where = [trials.c.search_id == search_id, trials.c.trial_number.is_not(None)]
    if state is not None:
        where.append(trials.c.status.in_(LEASE_STATES[state]))
    query = (
        sa.select(*_LEASE_COLUMNS)
        .where(*where)
        .order_by(trials.c.trial_number)
        .limit(limit)
        .offset(offset)
    )
    count = sa.select(sa.func.count()).select_from(trials).where(*where)
    with _transaction(engine) as conn:
        rows = [TrialLease(*row) for row in conn.execute(query)]
        total = conn.execute(count).scalar_one()
    return rows, int(total)


def trial_lease(engine: Engine, search_id: int, trial_number: int) -> TrialLease | None:
    """The lease that ran trial ``trial_number`` of the search, if lrsearch ran it."""
    query = sa.select(*_LEASE_COLUMNS).where(
        trials.c.search_id == search_id, trials.c.trial_number == trial_number
    )
    with _transaction(engine) as conn:
        row = conn.execute(query.order_by(trials.c.id.desc())).first()
    return TrialLease(*row) if row is not None else None


@dataclass(frozen=True)
class FailureGroup:
    """The search's failed trials that share a reason: how many, and the first few numbers."""

    reason: str
    count: int
    trial_numbers: list[int]


@dataclass(frozen=True)
class RunningLease:
    """A trial in flight: its lease, the agent that holds it (host:pid), its last heartbeat."""

    trial_number: int | None  # None while the agent is still asking Optuna for parameters
    status: str  # claimed, running
    attempt: int
    worker: str
    claimed_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class FailedTrial:
    """A trial that failed for good (its lease closed as failed: the slot is used)."""

    trial_number: int | None
    optuna_trial_id: int | None
    reason: str | None


def failure_groups(engine: Engine, search_id: int, *, examples: int = 5) -> list[FailureGroup]:
    """The search's failed trials grouped by reason, most frequent first.

    Two indexed queries, whatever the number of trials: the counts grouped in SQL, then the
    first ``examples`` trial numbers of each of the (few) reasons.
    """
    failed = (trials.c.search_id == search_id, trials.c.status == Outcome.FAILED.lease_status)
    reason = sa.func.coalesce(trials.c.reason, "")
    grouped = (
        sa.select(reason.label("reason"), sa.func.count().label("n"))
        .where(*failed)
        .group_by(reason)
        .order_by(sa.func.count().desc(), reason)
        .limit(20)
    )
    with _transaction(engine) as conn:
        groups = [(str(r), int(n)) for r, n in conn.execute(grouped)]
        found = []
        for text, n in groups:
            numbers = conn.execute(
                sa.select(trials.c.trial_number)
                .where(*failed, reason == text, trials.c.trial_number.is_not(None))
                .order_by(trials.c.trial_number)
                .limit(examples)
            ).scalars()
            found.append(FailureGroup(text or "(no reason recorded)", n, list(numbers)))
    return found


def running_leases(engine: Engine, search_id: int) -> list[RunningLease]:
    """The search's active leases (trials in flight), by trial number."""
    query = (
        sa.select(
            trials.c.trial_number,
            trials.c.status,
            trials.c.attempt,
            trials.c.worker,
            trials.c.claimed_at,
            trials.c.heartbeat_at,
        )
        .where(trials.c.search_id == search_id, trials.c.status.in_(LEASE_ACTIVE))
        .order_by(trials.c.trial_number, trials.c.id)
    )
    with _transaction(engine) as conn:
        return [
            RunningLease(number, status, attempt, worker, _utc(claimed), _utc(beat))
            for number, status, attempt, worker, claimed, beat in conn.execute(query)
        ]


def failed_trials(engine: Engine, search_id: int) -> list[FailedTrial]:
    """Every trial of the search that failed for good, by trial number."""
    query = (
        sa.select(trials.c.trial_number, trials.c.optuna_trial_id, trials.c.reason)
        .where(trials.c.search_id == search_id, trials.c.status == Outcome.FAILED.lease_status)
        .order_by(trials.c.trial_number, trials.c.id)
    )
    with _transaction(engine) as conn:
        return [FailedTrial(*row) for row in conn.execute(query)]


def best_summary(engine: Engine, name: str) -> dict[str, Any]:
    """The best trial of a search as JSON-ready data (``lrsearch best``, ``GET .../best``).

    One transaction, so the search, its best and the best trial's length agree. NotFoundError
    if the search does not exist or has no complete trial yet.
    """
    query = (
        sa.select(
            searches.c.id,
            searches.c.metric,
            searches.c.direction,
            best.c.trial_number,
            best.c.value,
            best.c.config_json,
            best.c.updated_at,
        )
        .outerjoin(best, best.c.search_id == searches.c.id)
        .where(searches.c.name == name)
    )
    with _transaction(engine) as conn:
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no study named {name!r}")
        if row.trial_number is None:
            raise NotFoundError(f"study {name!r} has no complete trial yet")
        steps = conn.execute(
            sa.select(epoch_metrics.c.step)
            .where(
                epoch_metrics.c.search_id == row.id,
                epoch_metrics.c.trial_number == row.trial_number,
            )
            .order_by(epoch_metrics.c.epoch.desc())
            .limit(1)
        ).scalar_one_or_none()
    config = json.loads(row.config_json)
    return {
        "study": name,
        "metric": row.metric,
        "direction": row.direction,
        "value": row.value,
        "trial_number": row.trial_number,
        "schedule": config["schedule"],
        "optimizer": config["optimizer"],
        "optimizer_params": config.get("optimizer_params", {}),
        "seed": config.get("seed", 0),
        "steps": steps,  # updates the best trial trained (its last epoch's step)
        "updated_at": _utc(row.updated_at).isoformat(),
    }


def delete_search(engine: Engine, name: str) -> None:
    """Remove a search's rows from lrsearch's tables (its Optuna study is the caller's)."""
    with _transaction(engine) as conn:
        search_id = conn.execute(
            sa.select(searches.c.id).where(searches.c.name == name).with_for_update()
        ).scalar_one_or_none()
        if search_id is None:
            raise NotFoundError(f"no study named {name!r}")
        children: Sequence[sa.Table] = (
            epoch_metrics,
            trials,
            best,
            baselines,
            leaders,
            confirmations,
            sweeps,
            range_tests,
        )
        for table in children:  # explicit: SQLite enforces ON DELETE CASCADE only if asked to
            conn.execute(table.delete().where(table.c.search_id == search_id))
        conn.execute(searches.delete().where(searches.c.id == search_id))
