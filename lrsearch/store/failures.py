"""Stopping a search whose first trials all fail the same way (a bug in the user's model).

Decided inside the transaction that records a failure, under the search's row lock, from the
database's counters and lease rows alone: with any number of agents on any number of hosts, the
search stops once, when the Nth failure of the same error is counted and nothing has succeeded.
"""

from __future__ import annotations

import sqlalchemy as sa

from lrsearch.store.models import searches, trials
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import Search, utc_now
from lrsearch.store.searches import ERROR_LENGTH, LIVE_STATUSES

# Failures that say something about the schedule, not about the code: they never stop a search.
NOT_A_BUG = frozenset({"diverged"})


def counts_toward_stop(reason: str | None) -> bool:
    """Whether a failure with this reason may be a bug that fails every trial."""
    return bool(reason) and reason not in NOT_A_BUG


def stop_if_failing(conn: sa.Connection, search: Search, reason: str, limit: int) -> bool:
    """Fail the search when its first ``limit`` finished trials all failed with ``reason``.

    ``search`` is the row as locked before this failure was counted. Returns whether the
    search was stopped now; ``limit`` 0 never stops.
    """
    n_failed = search.n_failed + 1  # this failure, counted in the same transaction
    if limit < 1 or search.status not in LIVE_STATUSES or search.n_complete or search.n_pruned:
        return False
    if n_failed < limit:
        return False
    same = conn.execute(
        sa.select(sa.func.count())
        .select_from(trials)
        .where(
            trials.c.search_id == search.id,
            trials.c.status == Outcome.FAILED.lease_status,
            trials.c.reason == reason,
        )
    ).scalar_one()
    if same < n_failed:  # another error, a lost worker's trial: not one bug
        return False
    conn.execute(
        searches.update()
        .where(searches.c.id == search.id)
        .values(
            status="failed",
            error=f"stopped after {n_failed} failed trials: {reason}"[:ERROR_LENGTH],
            updated_at=utc_now(),
        )
    )
    return True
