"""What every store module shares: the frozen row values, the transaction helper, clocks.

Public on purpose: the read views (views.py) and the writers (searches, leases, outcomes) use the
same transaction discipline and the same row conversion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.errors import NotFoundError, StoreError, StoreUnavailable
from lrsearch.store.models import searches


@dataclass(frozen=True)
class Search:
    """One row of ``lr_searches``: a search, its budget and its counters."""

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
    baseline_trials: int = 0  # slots added for the baselines after the search's own trials
    confirm_trials: int = 0  # slots added for the confirmations, with the baselines'

    @property
    def search_trials(self) -> int:
        """The slots of the search itself (the budget without the baselines' and the
        confirmations' slots)."""
        return self.trial_budget - self.baseline_trials - self.confirm_trials

    @property
    def finished(self) -> int:
        """Trials that used their slot for good: complete, pruned or failed."""
        return self.n_complete + self.n_pruned + self.n_failed

    @property
    def running(self) -> int:
        """Slots taken by trials still in flight."""
        return self.trials_claimed - self.finished

    @property
    def remaining(self) -> int:
        """Slots not used for good yet (free or in flight)."""
        return self.trial_budget - self.finished


@dataclass(frozen=True)
class Best:
    """The best complete trial of a search, as ``lr_best`` keeps it."""

    trial_number: int
    value: float
    config: Mapping[str, Any]
    updated_at: datetime


def utc_now() -> datetime:
    """This host's clock, for display times only (never compared across hosts)."""
    return datetime.now(UTC)


@contextmanager
def transaction(engine: Engine) -> Iterator[sa.Connection]:
    """One transaction; driver errors leave as StoreError (StoreUnavailable when transient),
    rolled back. Integrity errors pass through: callers turn them into their own meaning."""
    try:
        with engine.begin() as conn:
            yield conn
    except sa.exc.IntegrityError:
        raise
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:  # lost, restarting, locked
        raise StoreUnavailable(f"database error: {exc.orig}") from None
    except sa.exc.DBAPIError as exc:
        raise StoreError(f"database error: {exc.orig}") from None


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time lrsearch stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def search_from(data: dict[str, Any]) -> Search:
    """A Search from a row's columns (and only those: callers pop any joined extras)."""
    spec = json.loads(data.pop("spec_json"))
    data["created_at"], data["updated_at"] = utc(data["created_at"]), utc(data["updated_at"])
    return Search(spec=spec, **data)


def row_to_search(row: sa.Row[Any]) -> Search:
    """A Search from a ``searches.select()`` row."""
    return search_from(dict(row._mapping))


def lock_search(conn: sa.Connection, search_id: int) -> Search:
    """The search's row, locked for this transaction (counters change under this lock)."""
    row = conn.execute(
        searches.select().where(searches.c.id == search_id).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError(f"no search with id {search_id}")
    return row_to_search(row)


def lock_search_named(conn: sa.Connection, name: str) -> Search:
    """The search called ``name``, its row locked for this transaction."""
    row = conn.execute(searches.select().where(searches.c.name == name).with_for_update()).first()
    if row is None:
        raise NotFoundError(f"no study named {name!r}")
    return row_to_search(row)


def db_now(conn: sa.Connection) -> sa.ColumnElement[Any]:
    """The database's clock, for times that other hosts compare (heartbeats, claims).

    SQLite's ``'now'`` is UTC, written in the format SQLAlchemy writes (millisecond precision).
    """
    if conn.dialect.name == "sqlite":
        return sa.func.strftime("%Y-%m-%d %H:%M:%f", "now")
    return sa.func.now()


def older_than(conn: sa.Connection, column: Any, seconds: float) -> sa.ColumnElement[bool]:
    """``column`` is more than ``seconds`` before the database's now, judged by the database.

    One clock decides staleness, whichever host asks: comparing a time one host wrote with
    another host's clock would reap a live worker whenever the two clocks disagree.
    """
    if conn.dialect.name == "sqlite":
        day_fraction = sa.func.julianday("now") - seconds / 86400.0
        return sa.func.julianday(column, type_=sa.Float) < day_fraction
    moment: sa.ColumnElement[datetime] = sa.func.now(type_=sa.DateTime(timezone=True))
    return sa.type_coerce(column, sa.DateTime(timezone=True)) < moment - sa.literal(
        timedelta(seconds=seconds), sa.Interval()
    )
