"""Leases: a claimed slot of a search's budget, held by one worker while its trial runs.

A worker claims a slot with one conditional UPDATE of the search's counter, plus a lease row,
before it asks Optuna for a trial, so however many processes or hosts run, no more than the
budget is ever started. The worker's heartbeat keeps the lease alive; a lease whose heartbeat is
older than the stale timeout, by the database's clock, belongs to a dead worker and is reaped
(recovery.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.store.agents import beat_agent
from lrsearch.store.counters import close_lease, count
from lrsearch.store.lr_ranges import claim_open
from lrsearch.store.models import ACTIVE_STATUSES, LEASE_ACTIVE, searches, trials
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import db_now, lock_search, transaction, utc_now


@dataclass(frozen=True)
class Lease:
    """A claimed slot of a search's budget, held by one worker while its trial runs."""

    id: int
    search_id: int
    search_name: str
    attempt: int = 1


def claim_trial(
    engine: Engine,
    search: str | int,
    worker: str = "local",
    attempt: int = 1,
    *,
    retried: bool = False,
) -> Lease | None:
    """Take one slot of the budget of ``search`` (a name or an id), if one is left and the search
    is active, with a lease.

    The conditional UPDATE of the counter and the lease row are one transaction, so a slot is
    never taken without a lease that a reaper can find if the worker dies. ``retried``: an
    earlier try may have committed with its reply lost; then the lease it made is this claim
    (a worker holds at most one claimed lease that has no trial yet), not a second slot.
    """
    which = searches.c.id == search if isinstance(search, int) else searches.c.name == search
    if retried:
        earlier = _unstarted_claim(engine, which, worker)
        if earlier is not None:
            return earlier
    query = (
        searches.update()
        .where(
            which,
            searches.c.trials_claimed < searches.c.trial_budget,
            searches.c.status.in_(ACTIVE_STATUSES),
            claim_open(),  # an LR range test still sweeping: only its sweeps' slots
        )
        .values(
            trials_claimed=searches.c.trials_claimed + 1, status="running", updated_at=utc_now()
        )
        .returning(searches.c.id, searches.c.name)
    )
    with transaction(engine) as conn:
        claimed = conn.execute(query).first()
        if claimed is None:
            return None
        now = db_now(conn)
        lease_id = conn.execute(
            trials.insert()
            .values(
                search_id=claimed.id,
                worker=worker[:255],
                status="claimed",
                attempt=attempt,
                claimed_at=now,
                heartbeat_at=now,
            )
            .returning(trials.c.id)
        ).scalar_one()
    return Lease(lease_id, claimed.id, claimed.name, attempt)


def _unstarted_claim(engine: Engine, which: Any, worker: str) -> Lease | None:
    """The claimed lease of ``worker`` on the search that holds no trial yet, if any."""
    query = (
        sa.select(trials.c.id, trials.c.search_id, searches.c.name, trials.c.attempt)
        .join(searches, searches.c.id == trials.c.search_id)
        .where(
            which,
            trials.c.worker == worker[:255],
            trials.c.status == "claimed",
            trials.c.optuna_trial_id.is_(None),
        )
        .order_by(trials.c.id.desc())
    )
    with transaction(engine) as conn:
        row = conn.execute(query).first()
    return None if row is None else Lease(row.id, row.search_id, row.name, row.attempt)


def start_trial(
    engine: Engine, lease: Lease, trial_number: int, optuna_trial_id: int, attempt: int = 1
) -> bool:
    """Link the lease to the Optuna trial it runs (``attempt`` > 1 for a re-run).

    False when the lease is no longer this worker's (reaped while it was asking, after a long
    database outage). Safe to repeat: a retry after a lost reply finds the link made.
    """
    mine = sa.or_(
        trials.c.status == "claimed",
        sa.and_(trials.c.status == "running", trials.c.optuna_trial_id == optuna_trial_id),
    )
    with transaction(engine) as conn:
        changed = conn.execute(
            trials.update()
            .where(trials.c.id == lease.id, mine)
            .values(
                trial_number=trial_number,
                optuna_trial_id=optuna_trial_id,
                status="running",
                attempt=attempt,
                heartbeat_at=db_now(conn),
            )
        )
        return changed.rowcount == 1


def reserve_trial(engine: Engine, lease: Lease, optuna_trial_id: int) -> bool:
    """Reserve a queued Optuna trial for this claimed lease, before moving it to RUNNING.

    At most one active lease holds a trial: decided under the search's row lock, so only the
    reserving worker may start it, and after a lost reply it can tell that it did.
    """
    holder = sa.select(trials.c.id).where(
        trials.c.optuna_trial_id == optuna_trial_id, trials.c.status.in_(LEASE_ACTIVE)
    )
    with transaction(engine) as conn:
        lock_search(conn, lease.search_id)
        if conn.execute(holder).first() is not None:
            return False
        changed = conn.execute(
            trials.update()
            .where(
                trials.c.id == lease.id,
                trials.c.status == "claimed",
                trials.c.optuna_trial_id.is_(None),
            )
            .values(optuna_trial_id=optuna_trial_id)
        )
        return changed.rowcount == 1


def unreserve_trial(engine: Engine, lease: Lease) -> None:
    """Drop the reservation of a claimed lease (the queued trial was not its to start)."""
    with transaction(engine) as conn:
        conn.execute(
            trials.update()
            .where(trials.c.id == lease.id, trials.c.status == "claimed")
            .values(optuna_trial_id=None)
        )


def reserved_trial_id(engine: Engine, lease: Lease) -> int | None:
    """The Optuna trial this lease holds, if any."""
    query = sa.select(trials.c.optuna_trial_id).where(
        trials.c.id == lease.id, trials.c.status.in_(LEASE_ACTIVE)
    )
    with transaction(engine) as conn:
        found = conn.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def heartbeat(engine: Engine, lease_ids: Iterable[int], agent_id: int | None = None) -> set[int]:
    """Refresh these leases and the agent's row (database clock), in one transaction; returns
    the leases no longer active (reaped)."""
    lease_ids = list(lease_ids)
    if not lease_ids and agent_id is None:
        return set()
    with transaction(engine) as conn:
        if agent_id is not None:
            beat_agent(conn, agent_id)
        if not lease_ids:
            return set()
        conn.execute(
            trials.update()
            .where(trials.c.id.in_(lease_ids), trials.c.status.in_(LEASE_ACTIVE))
            .values(heartbeat_at=db_now(conn))
        )
        active = conn.execute(
            sa.select(trials.c.id).where(
                trials.c.id.in_(lease_ids), trials.c.status.in_(LEASE_ACTIVE)
            )
        ).scalars()
        return set(lease_ids) - set(active)


def release_trial(
    engine: Engine,
    lease: Lease,
    reason: str = "interrupted",
    outcome: Outcome = Outcome.INTERRUPTED,
) -> bool:
    """Give back the slot of an abandoned trial (it runs again); False if already reaped.

    If the lease holds an Optuna trial, the lease stays marked until that trial is failed and
    re-queued (see ``pending_requeues``).
    """
    with transaction(engine) as conn:
        search = lock_search(conn, lease.search_id)
        if not close_lease(conn, lease.id, outcome, reason):
            return False
        count(conn, search, outcome)
    return True
