"""Repository functions over lrsearch's tables; every read returns a frozen value.

The trial budget is a counter of claimed slots in ``lr_searches``. A worker claims a slot with
one conditional UPDATE before it asks Optuna for a trial, so however many processes or hosts
run, no more than the budget is ever started. A trial that ends (complete, pruned, failed)
keeps its slot; a trial abandoned by an interrupted worker gives it back. The best trial is
materialized in ``lr_best`` in the same transaction that counts the finished trial.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.errors import ConflictError, NotFoundError, StoreError
from lrsearch.store.models import (
    ACTIVE_STATUSES,
    LEASE_ACTIVE,
    best,
    epoch_metrics,
    searches,
    trials,
)

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
    except sa.exc.DBAPIError as exc:  # connection lost, server gone, lock timeout, ...
        raise StoreError(f"database error: {exc.orig}") from None


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time lrsearch stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _row_to_search(row: sa.Row[Any]) -> Search:
    return _search_from(dict(row._mapping))


def _search_from(data: dict[str, Any]) -> Search:
    """A Search from a row's columns (and only those: callers pop any joined extras)."""
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
        raise NotFoundError(f"no study named {name!r}")
    return found


def list_searches(engine: Engine, *, limit: int = 100, offset: int = 0) -> list[Search]:
    query = searches.select().order_by(searches.c.id).limit(limit).offset(offset)
    with _transaction(engine) as conn:
        return [_row_to_search(row) for row in conn.execute(query)]


@dataclass(frozen=True)
class Lease:
    """A claimed slot of a search's budget, held by one worker while its trial runs."""

    id: int
    search_id: int
    search_name: str
    attempt: int = 1


@dataclass(frozen=True)
class StaleLease:
    id: int
    search_id: int
    search_name: str
    trial_number: int | None
    optuna_trial_id: int | None
    attempt: int


def claim_trial(engine: Engine, name: str, worker: str = "local", attempt: int = 1) -> Lease | None:
    """Take one slot of the budget, if any is left and the search is active, with a lease.

    The conditional UPDATE of the counter and the lease row are one transaction, so a slot is
    never taken without a lease that a reaper can find if the worker dies.
    """
    query = (
        searches.update()
        .where(
            searches.c.name == name,
            searches.c.trials_claimed < searches.c.trial_budget,
            searches.c.status.in_(ACTIVE_STATUSES),
        )
        .values(trials_claimed=searches.c.trials_claimed + 1, status="running", updated_at=_now())
        .returning(searches.c.id)
    )
    with _transaction(engine) as conn:
        search_id = conn.execute(query).scalar_one_or_none()
        if search_id is None:
            return None
        now = _now()
        lease_id = conn.execute(
            trials.insert()
            .values(
                search_id=search_id,
                worker=worker[:255],
                status="claimed",
                attempt=attempt,
                claimed_at=now,
                heartbeat_at=now,
            )
            .returning(trials.c.id)
        ).scalar_one()
    return Lease(lease_id, search_id, name, attempt)


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
    with _transaction(engine) as conn:
        changed = conn.execute(
            trials.update()
            .where(trials.c.id == lease.id, mine)
            .values(
                trial_number=trial_number,
                optuna_trial_id=optuna_trial_id,
                status="running",
                attempt=attempt,
                heartbeat_at=_now(),
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
    with _transaction(engine) as conn:
        _lock_search(conn, lease.search_id)
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
    with _transaction(engine) as conn:
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
    with _transaction(engine) as conn:
        found = conn.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def heartbeat(engine: Engine, lease_ids: list[int]) -> set[int]:
    """Refresh these leases; returns the ones no longer active (reaped as stale)."""
    if not lease_ids:
        return set()
    with _transaction(engine) as conn:
        conn.execute(
            trials.update()
            .where(trials.c.id.in_(lease_ids), trials.c.status.in_(LEASE_ACTIVE))
            .values(heartbeat_at=_now())
        )
        active = conn.execute(
            sa.select(trials.c.id).where(
                trials.c.id.in_(lease_ids), trials.c.status.in_(LEASE_ACTIVE)
            )
        ).scalars()
        return set(lease_ids) - set(active)


def record_trial(
    engine: Engine,
    lease: Lease,
    *,
    outcome: Outcome,
    trial_number: int,
    value: float | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> bool:
    """Count a finished trial and close its lease; a complete one may become the best.

    All in one transaction. Returns False (and changes nothing) when the lease was already
    reaped, so a worker that was presumed dead never counts a trial twice.
    """
    with _transaction(engine) as conn:
        search = _lock_search(conn, lease.search_id)
        if not _close_lease(conn, lease.id, outcome, reason, active_only=True):
            return False
        _count(conn, search, outcome)
        if outcome == "complete" and value is not None and config is not None:
            _update_best(conn, search, trial_number, value, config)
    return True


def release_trial(engine: Engine, lease: Lease, reason: str = "interrupted") -> bool:
    """Give back the slot of an abandoned trial (it runs again); False if already reaped."""
    with _transaction(engine) as conn:
        search = _lock_search(conn, lease.search_id)
        if not _close_lease(conn, lease.id, "released", reason, active_only=True):
            return False
        _release(conn, search)
    return True


def stale_leases(engine: Engine, older_than_s: float) -> list[StaleLease]:
    """Active leases whose heartbeat is older than ``older_than_s`` seconds."""
    cutoff = _now() - timedelta(seconds=older_than_s)
    query = (
        sa.select(
            trials.c.id,
            trials.c.search_id,
            searches.c.name,
            trials.c.trial_number,
            trials.c.optuna_trial_id,
            trials.c.attempt,
        )
        .join(searches, searches.c.id == trials.c.search_id)
        .where(trials.c.status.in_(LEASE_ACTIVE), trials.c.heartbeat_at < cutoff)
        .order_by(trials.c.id)
    )
    with _transaction(engine) as conn:
        return [StaleLease(*row) for row in conn.execute(query)]


def reap_lease(
    engine: Engine,
    stale: StaleLease,
    older_than_s: float,
    *,
    outcome: Outcome | Literal["released"],
    value: float | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str = "worker lost",
) -> bool:
    """Close a stale lease: count its trial (``outcome``) or give its slot back ("released").

    The heartbeat is checked again under the lock, so a worker that was only slow and has
    just beaten keeps its lease. Returns whether this call reaped it.
    """
    cutoff = _now() - timedelta(seconds=older_than_s)
    with _transaction(engine) as conn:
        search = _lock_search(conn, stale.search_id)
        still_stale = conn.execute(
            trials.update()
            .where(
                trials.c.id == stale.id,
                trials.c.status.in_(LEASE_ACTIVE),
                trials.c.heartbeat_at < cutoff,
            )
            .values(
                status="stale" if outcome == "released" else outcome,
                reason=reason,
                finished_at=_now(),
            )
        ).rowcount
        if not still_stale:
            return False
        if outcome == "released":
            _release(conn, search)
        else:
            _count(conn, search, outcome)
            if outcome == "complete" and value is not None and config is not None:
                _update_best(conn, search, stale.trial_number or 0, value, config)
    return True


def record_epochs(
    engine: Engine,
    search_id: int,
    trial_number: int,
    rows: Sequence[tuple[int, Mapping[str, float], float]],
) -> None:
    """Per-epoch results ``(epoch, metrics, value)``: train loss, the metric, LR and seconds.

    One transaction for all the rows: workers batch them, to keep database round trips (and,
    on SQLite, lock hand-offs between workers) off the per-epoch path.
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
        }
        for epoch, metrics, value in rows
    ]
    with _transaction(engine) as conn:
        conn.execute(epoch_metrics.insert(), values)


def epochs_of(engine: Engine, name: str, trial_number: int) -> list[dict[str, Any]]:
    query = (
        sa.select(epoch_metrics)
        .join(searches, searches.c.id == epoch_metrics.c.search_id)
        .where(searches.c.name == name, epoch_metrics.c.trial_number == trial_number)
        .order_by(epoch_metrics.c.epoch)
    )
    with _transaction(engine) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def active_leases(engine: Engine) -> dict[int, int | None]:
    """Every active lease's id, with the Optuna trial id it holds (None before asking)."""
    query = sa.select(trials.c.id, trials.c.optuna_trial_id).where(
        trials.c.status.in_(LEASE_ACTIVE)
    )
    with _transaction(engine) as conn:
        return {int(lease): trial for lease, trial in conn.execute(query)}


def active_search_names(engine: Engine) -> list[str]:
    """Searches that may still run trials: queued, running or stopping."""
    query = (
        sa.select(searches.c.name)
        .where(searches.c.status.in_((*ACTIVE_STATUSES, "stopping")))
        .order_by(searches.c.id)
    )
    with _transaction(engine) as conn:
        return list(conn.execute(query).scalars())


def stop_search(engine: Engine, name: str) -> Search:
    """No more claims; trials already running finish; then the search is done."""
    with _transaction(engine) as conn:
        row = conn.execute(
            searches.select().where(searches.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"no study named {name!r}")
        search = _row_to_search(row)
        if search.status in ACTIVE_STATUSES:
            status = "done" if search.running == 0 else "stopping"
            conn.execute(
                searches.update()
                .where(searches.c.id == search.id)
                .values(status=status, updated_at=_now())
            )
    return get_search(engine, name)


def _lock_search(conn: sa.Connection, search_id: int) -> Search:
    row = conn.execute(
        searches.select().where(searches.c.id == search_id).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError(f"no search with id {search_id}")
    return _row_to_search(row)


def _close_lease(
    conn: sa.Connection, lease_id: int, status: str, reason: str | None, active_only: bool
) -> bool:
    query = trials.update().where(trials.c.id == lease_id)
    if active_only:
        query = query.where(trials.c.status.in_(LEASE_ACTIVE))
    changed = conn.execute(query.values(status=status, reason=reason, finished_at=_now()))
    return changed.rowcount == 1


def _count(conn: sa.Connection, search: Search, outcome: Outcome) -> None:
    counter = searches.c[_COUNTER[outcome]]
    finished, running = search.finished + 1, search.running - 1
    conn.execute(
        searches.update()
        .where(searches.c.id == search.id)
        .values(
            {
                counter: counter + 1,
                "status": _next_status(search, finished, running),
                "updated_at": _now(),
            }
        )
    )


def _release(conn: sa.Connection, search: Search) -> None:
    conn.execute(
        searches.update()
        .where(searches.c.id == search.id, searches.c.trials_claimed > 0)
        .values(
            trials_claimed=searches.c.trials_claimed - 1,
            n_retried=searches.c.n_retried + 1,
            status=_next_status(search, search.finished, search.running - 1),
            updated_at=_now(),
        )
    )


def _next_status(search: Search, finished: int, running: int) -> str:
    """done when the budget is finished, or when a stopping search has nothing running."""
    if search.status in ("running", "queued") and finished >= search.trial_budget:
        return "done"
    if search.status == "stopping" and running <= 0:
        return "done"
    return search.status


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


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


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
            raise NotFoundError(f"no study named {name!r}")
