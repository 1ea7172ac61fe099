"""The trials of a search in the order they finished: what ``lrsearch search`` logs as it goes.

Read by the finishing time the database's clock wrote, with an overlap: on PostgreSQL that time
is the recording transaction's start, so a trial may show up a moment after one that finished
later. The reader skips the ones it has seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.store.models import trials
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import transaction, utc

OVERLAP = timedelta(seconds=60)
FINAL_STATUSES = tuple(o.lease_status for o in Outcome if o.final)


@dataclass(frozen=True)
class FinishedLease:
    """A lease closed for good (complete, pruned, failed) with its Optuna trial."""

    id: int
    trial_number: int
    optuna_trial_id: int
    status: str
    reason: str | None
    finished_at: datetime


def finished_leases(
    engine: Engine, search_id: int, since: datetime | None, *, limit: int = 5000
) -> list[FinishedLease]:
    """The search's trials that finished for good from ``since`` (less OVERLAP) on, oldest
    first."""
    query = (
        sa.select(
            trials.c.id,
            trials.c.trial_number,
            trials.c.optuna_trial_id,
            trials.c.status,
            trials.c.reason,
            trials.c.finished_at,
        )
        .where(
            trials.c.search_id == search_id,
            trials.c.status.in_(FINAL_STATUSES),
            trials.c.optuna_trial_id.is_not(None),
            trials.c.finished_at.is_not(None),
        )
        .order_by(trials.c.finished_at, trials.c.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(trials.c.finished_at >= since - OVERLAP)
    with transaction(engine) as conn:
        return [
            FinishedLease(
                r.id, r.trial_number, r.optuna_trial_id, r.status, r.reason, utc(r.finished_at)
            )
            for r in conn.execute(query)
        ]


def latest_finish(engine: Engine, search_id: int) -> datetime | None:
    """When the search's last trial finished for good (None before the first)."""
    query = sa.select(sa.func.max(trials.c.finished_at)).where(
        trials.c.search_id == search_id, trials.c.status.in_(FINAL_STATUSES)
    )
    with transaction(engine) as conn:
        latest = conn.execute(query).scalar_one_or_none()
    return utc(latest) if latest is not None else None
