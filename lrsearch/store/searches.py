"""Repository functions over lrsearch's tables; every read returns a frozen value.

The trial budget is a counter of claimed slots in ``lr_searches``. A worker claims a slot with
one conditional UPDATE before it asks Optuna for a trial, so however many processes or hosts
run, no more than the budget is ever started. A trial that ends (complete, pruned, failed)
keeps its slot; a trial abandoned by an interrupted worker gives it back. The best trial is
materialized in ``lr_best`` in the same transaction that counts the finished trial.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.errors import ConflictError, NotFoundError, StoreError
from lrsearch.store.models import ACTIVE_STATUSES, best, searches

Outcome = Literal["complete", "pruned", "failed"]
_COUNTER = {"complete": "n_complete", "pruned": "n_pruned", "failed": "n_failed"}


@dataclass(frozen=True)
class Search:
    id: int
    name: str
    status: str
    spec: Mapping[str, Any]
    task: str
    metric: str
    direction: str
    trial_budget: int
    trials_claimed: int
    n_complete: int
    n_pruned: int
    n_failed: int
    n_retried: int
    created_at: datetime
    updated_at: datetime
    error: str | None

    @property
    def finished(self) -> int:
        """Trials that used their slot for good: complete, pruned or failed."""
        return self.n_complete + self.n_pruned + self.n_failed

    @property
    def running(self) -> int:
        return self.trials_claimed - self.finished

    @property
    def remaining(self) -> int:
        return self.trial_budget - self.finished


@dataclass(frozen=True)
class Best:
    trial_number: int
    value: float
    config: Mapping[str, Any]
    updated_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _transaction(engine: Engine) -> Iterator[sa.Connection]:
    """One transaction; driver errors leave as StoreError, rolled back."""
    try:
        with engine.begin() as conn:
            yield conn
    except sa.exc.IntegrityError:
        raise
    except sa.exc.OperationalError as exc:
        raise StoreError(f"database error: {exc.orig}") from None


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time lrsearch stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _row_to_search(row: sa.Row[Any]) -> Search:
    data = dict(row._mapping)
    spec = json.loads(data.pop("spec_json"))
    data["created_at"], data["updated_at"] = _utc(data["created_at"]), _utc(data["updated_at"])
    return Search(spec=spec, **data)


def create_search(
    engine: Engine,
    *,
    name: str,
    spec: Mapping[str, Any],
    task: str,
    metric: str,
    direction: str,
    trial_budget: int,
) -> Search:
    """Insert a queued search; a taken name is a ConflictError."""
    now = _now()
    values = {
        "name": name,
        "status": "queued",
        "spec_json": json.dumps(spec, sort_keys=True),
        "task": task,
        "metric": metric,
        "direction": direction,
        "trial_budget": trial_budget,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with _transaction(engine) as conn:
            conn.execute(searches.insert().values(**values))
    except sa.exc.IntegrityError:
        raise ConflictError(f"a search named {name!r} already exists") from None
    return get_search(engine, name)


def find_search(engine: Engine, name: str) -> Search | None:
    with _transaction(engine) as conn:
        row = conn.execute(searches.select().where(searches.c.name == name)).first()
    return _row_to_search(row) if row is not None else None


def get_search(engine: Engine, name: str) -> Search:
    found = find_search(engine, name)
    if found is None:
        raise NotFoundError(f"no search named {name!r}")
    return found


def list_searches(engine: Engine, *, limit: int = 100, offset: int = 0) -> list[Search]:
    query = searches.select().order_by(searches.c.id).limit(limit).offset(offset)
    with _transaction(engine) as conn:
        return [_row_to_search(row) for row in conn.execute(query)]


def claim_trial(engine: Engine, name: str) -> bool:
    """Take one slot of the budget if any is left and the search is active."""
    query = (
        searches.update()
        .where(
            searches.c.name == name,
            searches.c.trials_claimed < searches.c.trial_budget,
            searches.c.status.in_(ACTIVE_STATUSES),
        )
        .values(trials_claimed=searches.c.trials_claimed + 1, status="running", updated_at=_now())
    )
    with _transaction(engine) as conn:
        return conn.execute(query).rowcount == 1


def release_trial(engine: Engine, name: str) -> None:
    """Give back the slot of a trial that was abandoned (it will be run again)."""
    query = (
        searches.update()
        .where(searches.c.name == name, searches.c.trials_claimed > 0)
        .values(
            trials_claimed=searches.c.trials_claimed - 1,
            n_retried=searches.c.n_retried + 1,
            updated_at=_now(),
        )
    )
    with _transaction(engine) as conn:
        conn.execute(query)


def record_trial(
    engine: Engine,
    name: str,
    *,
    outcome: Outcome,
    trial_number: int,
    value: float | None = None,
    config: Mapping[str, Any] | None = None,
) -> None:
    """Count a finished trial; a complete one may become the best, in the same transaction.

    When the last slot of the budget finishes, the search is done.
    """
    counter = searches.c[_COUNTER[outcome]]
    with _transaction(engine) as conn:
        row = conn.execute(
            searches.select().where(searches.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"no search named {name!r}")
        search = _row_to_search(row)
        done = search.finished + 1 >= search.trial_budget
        status = "done" if done and search.status in ("running", "stopping") else search.status
        conn.execute(
            searches.update()
            .where(searches.c.id == search.id)
            .values({counter: counter + 1, "status": status, "updated_at": _now()})
        )
        if outcome == "complete" and value is not None and config is not None:
            _update_best(conn, search, trial_number, value, config)


def _update_best(
    conn: sa.Connection,
    search: Search,
    trial_number: int,
    value: float,
    config: Mapping[str, Any],
) -> None:
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
        "updated_at": _now(),
    }
    if current is None:
        conn.execute(best.insert().values(search_id=search.id, **values))
    else:
        conn.execute(best.update().where(best.c.search_id == search.id).values(**values))


def get_best(engine: Engine, name: str) -> Best | None:
    """The best complete trial of the search, or None while none has completed."""
    query = (
        sa.select(best.c.trial_number, best.c.value, best.c.config_json, best.c.updated_at)
        .join(searches, searches.c.id == best.c.search_id)
        .where(searches.c.name == name)
    )
    with _transaction(engine) as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Best(row.trial_number, row.value, json.loads(row.config_json), _utc(row.updated_at))


def set_status(engine: Engine, name: str, status: str, error: str | None = None) -> None:
    query = (
        searches.update()
        .where(searches.c.name == name)
        .values(status=status, error=error, updated_at=_now())
    )
    with _transaction(engine) as conn:
        if conn.execute(query).rowcount != 1:
            raise NotFoundError(f"no search named {name!r}")
