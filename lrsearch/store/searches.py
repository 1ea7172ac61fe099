"""The rows of ``lr_searches``: creating, finding, listing, stopping and failing a search.

The trial budget is a counter of claimed slots in ``lr_searches`` (see leases.py): a trial that
ends (complete, pruned, failed) keeps its slot; a trial abandoned by an interrupted or lost
worker gives it back. The best trial is kept in ``lr_best`` by the transaction that counts it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.errors import ConflictError, NotFoundError
from lrsearch.store.lr_ranges import add_range_test
from lrsearch.store.models import ACTIVE_STATUSES, searches
from lrsearch.store.rows import (
    Search,
    lock_search_named,
    row_to_search,
    transaction,
    utc_now,
)

# Searches that may still run trials: claims are taken from the first two only.
LIVE_STATUSES = (*ACTIVE_STATUSES, "stopping")
ERROR_LENGTH = 500


def create_search(
    engine: Engine,
    *,
    name: str,
    spec: Mapping[str, Any],
    task: str,
    metric: str,
    direction: str,
    trial_budget: int,
    sweeps: int = 0,
) -> Search:
    """Insert a queued search; a taken name is a ConflictError. ``sweeps``: the LR range
    test's sweeps, on slots of their own added to the budget (store/lr_ranges.py)."""
    now = utc_now()
    values = {
        "name": name,
        "status": "queued",
        "spec_json": json.dumps(spec, sort_keys=True),
        "task": task,
        "metric": metric,
        "direction": direction,
        "trial_budget": trial_budget + sweeps,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with transaction(engine) as conn:
            search_id = conn.execute(
                searches.insert().values(**values).returning(searches.c.id)
            ).scalar_one()
            if sweeps:
                add_range_test(conn, search_id, sweeps)
    except sa.exc.IntegrityError:
        raise ConflictError(f"a search named {name!r} already exists") from None
    return get_search(engine, name)


def find_search(engine: Engine, name: str) -> Search | None:
    """The search called ``name``, or None."""
    with transaction(engine) as conn:
        row = conn.execute(searches.select().where(searches.c.name == name)).first()
    return row_to_search(row) if row is not None else None


def search_by_id(engine: Engine, search_id: int) -> Search | None:
    """The search with this id (ids are never reused), or None once it was deleted."""
    with transaction(engine) as conn:
        row = conn.execute(searches.select().where(searches.c.id == search_id)).first()
    return row_to_search(row) if row is not None else None


def get_search(engine: Engine, name: str) -> Search:
    """The search called ``name``; NotFoundError if there is none."""
    found = find_search(engine, name)
    if found is None:
        raise NotFoundError(f"no study named {name!r}")
    return found


def list_searches(engine: Engine, *, limit: int = 100, offset: int = 0) -> list[Search]:
    """Searches in creation order."""
    query = searches.select().order_by(searches.c.id).limit(limit).offset(offset)
    with transaction(engine) as conn:
        return [row_to_search(row) for row in conn.execute(query)]


def live_searches(engine: Engine) -> list[Search]:
    """Searches that may still run trials (queued, running or stopping), oldest first."""
    query = searches.select().where(searches.c.status.in_(LIVE_STATUSES)).order_by(searches.c.id)
    with transaction(engine) as conn:
        return [row_to_search(row) for row in conn.execute(query)]


def active_search_names(engine: Engine) -> list[str]:
    """Names of the searches that may still run trials, oldest first."""
    return [search.name for search in live_searches(engine)]


def stop_search(engine: Engine, name: str) -> Search:
    """No more claims; trials already running finish; then the search is done."""
    with transaction(engine) as conn:
        search = lock_search_named(conn, name)
        if search.status in ACTIVE_STATUSES:
            status = "done" if search.running == 0 else "stopping"
            conn.execute(
                searches.update()
                .where(searches.c.id == search.id)
                .values(status=status, updated_at=utc_now())
            )
    return get_search(engine, name)


def extend_budget(engine: Engine, name: str, trials: int) -> Search:
    """Add ``trials`` slots to the search's budget, in one UPDATE under its row lock.

    A search that ended (done, stopping, failed) becomes live again: ``running`` when it has
    claimed slots before, else ``queued``; its error is cleared. Agents claim the new slots as
    they claim any (the conditional UPDATE in leases.py), so this is safe while they run.
    """
    with transaction(engine) as conn:
        search = lock_search_named(conn, name)
        values: dict[str, Any] = {
            "trial_budget": searches.c.trial_budget + trials,
            "updated_at": utc_now(),
        }
        if search.status not in ACTIVE_STATUSES:
            values["status"] = "running" if search.trials_claimed else "queued"
            values["error"] = None
        conn.execute(searches.update().where(searches.c.id == search.id).values(values))
    return get_search(engine, name)


def set_status(engine: Engine, name: str, status: str, error: str | None = None) -> None:
    """Set a search's status (and error); NotFoundError if there is no such search."""
    query = (
        searches.update()
        .where(searches.c.name == name)
        .values(status=status, error=error, updated_at=utc_now())
    )
    with transaction(engine) as conn:
        if conn.execute(query).rowcount != 1:
            raise NotFoundError(f"no study named {name!r}")


def fail_search(engine: Engine, search_id: int, reason: str) -> bool:
    """Mark a live search failed with ``reason`` (it cannot run); False if it is not live.

    Safe to repeat. Its running trials, if any, still finish and are counted.
    """
    query = (
        searches.update()
        .where(searches.c.id == search_id, searches.c.status.in_(LIVE_STATUSES))
        .values(status="failed", error=reason[:ERROR_LENGTH], updated_at=utc_now())
    )
    with transaction(engine) as conn:
        return conn.execute(query).rowcount == 1
