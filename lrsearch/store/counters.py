"""The steps that close a lease and count its outcome, inside a caller's transaction.

Shared by recording a trial (outcomes.py) and reaping or releasing a lease (leases.py), so a
slot is counted the same way whoever closes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from lrsearch.store.models import LEASE_ACTIVE, best, searches, trials
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import Search, db_now, utc_now


def close_lease(
    conn: sa.Connection,
    lease_id: int,
    outcome: Outcome,
    reason: str | None,
    *,
    extra_where: sa.ColumnElement[bool] | None = None,
) -> bool:
    """Close an active lease with ``outcome``; False if it was not active any more.

    An abandoned attempt (not ``outcome.final``) that holds an Optuna trial is closed with an
    empty ``finished_at``: its trial still has to be failed and its parameters queued again
    (``requeue_done`` fills it in). Closing and that mark are one transaction, so a crash in
    between leaves work that any reaper finds and completes, never a lost parameter set.
    """
    query = trials.update().where(trials.c.id == lease_id, trials.c.status.in_(LEASE_ACTIVE))
    if extra_where is not None:
        query = query.where(extra_where)
    finished: Any = db_now(conn)
    if not outcome.final:
        finished = sa.case((trials.c.optuna_trial_id.is_(None), finished), else_=sa.null())
    # heartbeat_at becomes the time of closing: a pending re-queue is its closer's to complete
    # until it is stale again (see leases.claim_requeue).
    changed = conn.execute(
        query.values(
            status=outcome.lease_status,
            reason=reason,
            finished_at=finished,
            heartbeat_at=db_now(conn),
        )
    )
    return changed.rowcount == 1


def count(conn: sa.Connection, search: Search, outcome: Outcome) -> None:
    """Add the outcome to the search's counters; an abandoned attempt gives its slot back."""
    counter = searches.c[outcome.counter]
    values: dict[Any, Any] = {counter: counter + 1, "updated_at": utc_now()}
    if outcome.final:
        values["status"] = next_status(search, search.finished + 1, search.running - 1)
        query = searches.update().where(searches.c.id == search.id)
    else:
        values["trials_claimed"] = searches.c.trials_claimed - 1
        values["status"] = next_status(search, search.finished, search.running - 1)
        query = searches.update().where(searches.c.id == search.id, searches.c.trials_claimed > 0)
    conn.execute(query.values(values))


def next_status(search: Search, finished: int, running: int) -> str:
    """done when the budget is finished, or when a stopping search has nothing running."""
    if search.status in ("running", "queued") and finished >= search.trial_budget:
        return "done"
    if search.status == "stopping" and running <= 0:
        return "done"
    return search.status


def update_best(
    conn: sa.Connection,
    search: Search,
    trial_number: int,
    value: float,
    config: Mapping[str, Any],
) -> None:
    """Make this complete trial the search's best if it beats the one kept."""
    current = conn.execute(
        sa.select(best.c.value).where(best.c.search_id == search.id)
    ).scalar_one_or_none()
    better = (
        current is None
        or (search.direction == "maximize" and value > current)
        or (search.direction == "minimize" and value < current)
    )
    if not better:
        return
    values = {
        "trial_number": trial_number,
        "value": value,
        "config_json": json.dumps(config, sort_keys=True),
        "updated_at": utc_now(),
    }
    if current is None:
        conn.execute(best.insert().values(search_id=search.id, **values))
    else:
        conn.execute(best.update().where(best.c.search_id == search.id).values(**values))
