"""Recovery: what the reaper reads and writes on the lease rows of dead or stopped workers.

A lease whose heartbeat is older than the stale timeout (by the database's clock) is reaped:
its trial is counted, or its slot given back with the re-queue of its parameters left pending
on the lease row until the trial is failed and queued again, by whichever agent's reaper gets
there; queueing commits with clearing the mark, so it happens exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.store.counters import close_lease
from lrsearch.store.models import LEASE_ACTIVE, searches, trials
from lrsearch.store.outcome import Outcome
from lrsearch.store.outcomes import NOT_CONFIRMING, Confirming, Recorded, settle_counted
from lrsearch.store.rows import db_now, lock_search, older_than, transaction


@dataclass(frozen=True)
class StaleLease:
    """An active lease whose worker stopped beating."""

    id: int
    search_id: int
    search_name: str
    trial_number: int | None
    optuna_trial_id: int | None
    attempt: int


@dataclass(frozen=True)
class PendingRequeue:
    """A lease closed as an abandoned attempt whose trial is not failed and re-queued yet."""

    id: int
    search_id: int
    search_name: str
    optuna_trial_id: int
    attempt: int
    outcome: Outcome
    reason: str | None


@dataclass(frozen=True)
class LeaseLink:
    """A lease row as the orphan check sees it."""

    id: int
    optuna_trial_id: int | None
    live: bool  # active, or closed with its re-queue still pending
    # Why the lease closed as failed for good (``worker lost (3 attempts)``), else None: the
    # orphan check fails the trial with this reason, not as an abandoned attempt, when the
    # reaper that closed the lease has not failed the trial yet (or died before it could).
    failed_reason: str | None = None


def stale_leases(engine: Engine, older_than_s: float) -> list[StaleLease]:
    """Active leases whose heartbeat is older than ``older_than_s`` seconds (database clock)."""
    with transaction(engine) as conn:
        query = _with_search(
            trials.c.trial_number, trials.c.optuna_trial_id, trials.c.attempt
        ).where(
            trials.c.status.in_(LEASE_ACTIVE),
            older_than(conn, trials.c.heartbeat_at, older_than_s),
        )
        return [StaleLease(*row) for row in conn.execute(query)]


def reap_lease(
    engine: Engine,
    stale: StaleLease,
    older_than_s: float,
    *,
    outcome: Outcome,
    value: float | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str = "worker lost",
) -> bool:
    """Close a stale lease: count its trial (a final ``outcome``), or give its slot back (LOST).

    The heartbeat is checked again under the lock, so a worker that was only slow and has
    just beaten keeps its lease. Returns whether this call reaped it. A final outcome that
    may open a search's baselines or confirmations goes through :func:`reap_lease_in`, whose
    caller queues their trials in the same transaction.
    """
    with transaction(engine) as conn:
        return reap_lease_in(
            conn, stale, older_than_s, outcome=outcome, value=value, config=config, reason=reason
        ).recorded


def reap_lease_in(
    conn: sa.Connection,
    stale: StaleLease,
    older_than_s: float,
    *,
    outcome: Outcome,
    value: float | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str = "worker lost",
    baseline: str | None = None,
    baselines: int = 0,
    confirming: Confirming = NOT_CONFIRMING,
) -> Recorded:
    """:func:`reap_lease` in the caller's transaction; ``baseline``, ``baselines`` and
    ``confirming`` as in ``record_trial_in``: a baseline's or a confirmation's row is settled,
    and counting the search's last own trial opens the baselines' and confirmations' slots
    (the caller queues their trials, as the ledger does)."""
    outcome = Outcome(outcome)
    search = lock_search(conn, stale.search_id)
    still_stale = older_than(conn, trials.c.heartbeat_at, older_than_s)
    if not close_lease(conn, stale.id, outcome, reason, extra_where=still_stale):
        return Recorded(False)
    return settle_counted(
        conn,
        search,
        outcome=outcome,
        trial_number=stale.trial_number or 0,
        value=value,
        config=config,
        reason=reason,
        baseline=baseline,
        baselines=baselines,
        confirming=confirming,
    )


def pending_requeues(engine: Engine, older_than_s: float) -> list[PendingRequeue]:
    """Abandoned attempts whose trial still has to be failed and its parameters queued again,
    and whose closer has not touched them for ``older_than_s`` seconds (it died midway)."""
    with transaction(engine) as conn:
        query = _with_search(
            trials.c.optuna_trial_id, trials.c.attempt, trials.c.status, trials.c.reason
        ).where(_pending(), older_than(conn, trials.c.heartbeat_at, older_than_s))
        return [
            PendingRequeue(i, s, n, t, a, Outcome.of_lease_status(status), r)
            for i, s, n, t, a, status, r in conn.execute(query)
        ]


def claim_requeue(engine: Engine, lease_id: int, older_than_s: float) -> bool:
    """Take over a pending re-queue whose closer died; exactly one reaper wins it.

    The winner's stamp keeps the others off for ``older_than_s``; if it dies too, the next
    reaper takes over (every step of a re-queue is safe to repeat).
    """
    with transaction(engine) as conn:
        changed = conn.execute(
            trials.update()
            .where(
                trials.c.id == lease_id,
                _pending(),
                older_than(conn, trials.c.heartbeat_at, older_than_s),
            )
            .values(heartbeat_at=db_now(conn))
        )
        return changed.rowcount == 1


def _with_search(*columns: Any) -> sa.Select[Any]:
    """Lease rows (id, search id, search name, ``columns``) in lease order."""
    return (
        sa.select(trials.c.id, trials.c.search_id, searches.c.name, *columns)
        .join(searches, searches.c.id == trials.c.search_id)
        .order_by(trials.c.id)
    )


def _pending() -> sa.ColumnElement[bool]:
    return sa.and_(
        trials.c.status.in_([o.lease_status for o in Outcome if not o.final]),
        trials.c.finished_at.is_(None),
        trials.c.optuna_trial_id.is_not(None),
    )


def requeue_done(engine: Engine, lease_id: int) -> None:
    """The abandoned attempt's trial is failed and its parameters queued: clear the mark."""
    with transaction(engine) as conn:
        mark_requeued(conn, lease_id)


def mark_requeued(conn: sa.Connection, lease_id: int) -> bool:
    """Clear the pending re-queue mark in the caller's transaction; False if it was clear.

    Queueing the parameters again commits with this, so of two reapers on one pending
    re-queue (its closer was slow past the stale window, another took it over) exactly one
    queues them: the other's conditional UPDATE waits for the first and then changes nothing.
    """
    changed = conn.execute(
        trials.update()
        .where(trials.c.id == lease_id, trials.c.finished_at.is_(None))
        .values(finished_at=db_now(conn))
    )
    return changed.rowcount == 1


def taken_over(engine: Engine, lease_id: int, optuna_trial_id: int) -> bool:
    """Whether another lease runs (or ran) the trial this closed lease had only reserved.

    A lease reaped after reserving a queued trial, before starting it, leaves the trial queued;
    another worker may then start it. Re-queueing it for the first lease would fail that
    worker's live trial and queue its parameters twice. A lease that started the trial itself
    (its ``trial_number`` is set) is always the one to re-queue it.
    """
    other = trials.alias("other")
    query = sa.select(
        sa.exists().where(
            other.c.optuna_trial_id == optuna_trial_id,
            other.c.id != lease_id,
            sa.or_(other.c.status.in_(LEASE_ACTIVE), other.c.trial_number.is_not(None)),
        )
    ).where(sa.exists().where(trials.c.id == lease_id, trials.c.trial_number.is_(None)))
    with transaction(engine) as conn:
        return bool(conn.execute(query).scalar())


def active_leases(engine: Engine) -> dict[int, int | None]:
    """Every active lease's id, with the Optuna trial id it holds (None before asking)."""
    query = sa.select(trials.c.id, trials.c.optuna_trial_id).where(
        trials.c.status.in_(LEASE_ACTIVE)
    )
    with transaction(engine) as conn:
        return {int(lease): trial for lease, trial in conn.execute(query)}


def lease_links(
    engine: Engine, optuna_trial_ids: Iterable[int], lease_ids: Iterable[int]
) -> list[LeaseLink]:
    """The lease rows that hold one of these Optuna trials, or have one of these ids."""
    trial_ids, ids = list(optuna_trial_ids), list(lease_ids)
    if not trial_ids and not ids:
        return []
    live = sa.or_(trials.c.status.in_(LEASE_ACTIVE), trials.c.finished_at.is_(None))
    failed = sa.case(
        (trials.c.status == Outcome.FAILED.lease_status, trials.c.reason), else_=sa.null()
    )
    query = sa.select(trials.c.id, trials.c.optuna_trial_id, live, failed).where(
        sa.or_(trials.c.optuna_trial_id.in_(trial_ids), trials.c.id.in_(ids))
    )
    with transaction(engine) as conn:
        return [
            LeaseLink(int(i), t, bool(alive), reason) for i, t, alive, reason in conn.execute(query)
        ]
