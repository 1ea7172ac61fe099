"""The LR range test's rows: its state and chosen ranges, its sweeps, and the claim gate.

A search with ``[search] lr_range = "auto"`` gets a ``lr_range_tests`` row when it is created
(in the same transaction as its ``lr_searches`` row), with ``sweeps`` extra slots in its budget
for the sweep trials queued first. While the row is ``sweeping``, a claim takes only one of
those slots (:func:`claim_open`), so no searched trial starts before the range is known, with
any number of agents; a lost sweep gives its slot back and runs again like any lost trial.
The transaction that records the last sweep stores the ranges, marks the row ``done``, and
takes the sweeps' cost (``charge`` searched trials) off the budget: the claims open then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.store.models import range_tests, searches, sweeps
from lrsearch.store.rows import transaction, utc_now

SWEEPING, DONE = "sweeping", "done"


@dataclass(frozen=True)
class SweepRow:
    """One sweep that ended for good."""

    trial_number: int
    optimizer: str
    seed: int
    state: str
    updates: int
    trial_updates: int | None
    curve: Mapping[str, Any]
    reason: str | None


@dataclass(frozen=True)
class RangeTest:
    """A search's LR range test: ``state``, the ranges (optimizer -> dict, once done), the
    searched trials it cost, the updates its sweeps ran, and the sweeps that ended."""

    sweeps: int
    state: str
    ranges: Mapping[str, Mapping[str, Any]] | None
    charge: int
    sweep_updates: int
    trial_updates: int | None
    ended: list[SweepRow]

    @property
    def done(self) -> bool:
        return self.state == DONE


@dataclass(frozen=True)
class SweepingTest:
    """A search whose range test is still sweeping, with the sweeps stored so far."""

    search_id: int
    name: str
    spec: Mapping[str, Any]
    ended: list[SweepRow]


def sweeping_tests(engine: Engine) -> list[SweepingTest]:
    """The searches whose LR range test is still sweeping (usually none: one indexed read)."""
    query = (
        sa.select(searches.c.id, searches.c.name, searches.c.spec_json)
        .join(range_tests, range_tests.c.search_id == searches.c.id)
        .where(range_tests.c.state == SWEEPING)
    )
    with transaction(engine) as conn:
        return [
            SweepingTest(r.id, r.name, json.loads(r.spec_json), _sweep_rows(conn, r.id))
            for r in conn.execute(query).all()
        ]


def claim_open() -> sa.ColumnElement[bool]:
    """The condition a claim adds to its UPDATE of ``lr_searches``: no range test is sweeping
    with all its sweep slots taken (while it sweeps, every claimed slot is a sweep's)."""
    return ~sa.exists().where(
        range_tests.c.search_id == searches.c.id,
        range_tests.c.state == SWEEPING,
        searches.c.trials_claimed >= range_tests.c.sweeps,
    )


def sweeping(engine: Engine, search_id: int) -> bool:
    """Whether the search's range test is still sweeping (its searched trials wait)."""
    query = sa.select(range_tests.c.state).where(range_tests.c.search_id == search_id)
    with transaction(engine) as conn:
        return conn.execute(query).scalar_one_or_none() == SWEEPING


def add_range_test(conn: sa.Connection, search_id: int, count: int) -> None:
    """The range test's row of a new search (``count`` sweeps), in the caller's transaction."""
    conn.execute(
        range_tests.insert().values(
            search_id=search_id, sweeps=count, state=SWEEPING, updated_at=utc_now()
        )
    )


def record_sweep(conn: sa.Connection, search_id: int, row: SweepRow) -> list[SweepRow] | None:
    """Store an ended sweep (in the caller's transaction, under the search's row lock); the
    sweeps ended so far when this one is the last of a test still sweeping, else None."""
    test = conn.execute(
        sa.select(range_tests.c.sweeps, range_tests.c.state).where(
            range_tests.c.search_id == search_id
        )
    ).first()
    if test is None:
        return None
    exists = conn.execute(
        sa.select(sweeps.c.trial_number).where(
            sweeps.c.search_id == search_id, sweeps.c.trial_number == row.trial_number
        )
    ).first()
    if exists is None:
        conn.execute(sweeps.insert().values(search_id=search_id, **_columns(row)))
    ended = _sweep_rows(conn, search_id)
    if test.state != SWEEPING or len(ended) < test.sweeps:
        return None
    return ended


def settle_range(
    conn: sa.Connection,
    search_id: int,
    ranges: Mapping[str, Mapping[str, Any]],
    *,
    charge: int,
    sweep_updates: int,
    trial_updates: int | None,
) -> None:
    """The range is known: store it, take ``charge`` slots off the budget, open the claims."""
    conn.execute(
        range_tests.update()
        .where(range_tests.c.search_id == search_id)
        .values(
            state=DONE,
            ranges_json=json.dumps(ranges, sort_keys=True),
            charge=charge,
            sweep_updates=sweep_updates,
            trial_updates=trial_updates,
            updated_at=utc_now(),
        )
    )
    if charge:
        conn.execute(
            searches.update()
            .where(searches.c.id == search_id)
            .values(trial_budget=searches.c.trial_budget - charge)
        )


def range_test(engine: Engine, search_id: int, *, with_sweeps: bool = True) -> RangeTest | None:
    """The search's range test, or None when it runs none."""
    with transaction(engine) as conn:
        row = conn.execute(
            sa.select(range_tests).where(range_tests.c.search_id == search_id)
        ).first()
        if row is None:
            return None
        ended = _sweep_rows(conn, search_id) if with_sweeps else []
    ranges = json.loads(row.ranges_json) if row.ranges_json else None
    return RangeTest(
        row.sweeps, row.state, ranges, row.charge, row.sweep_updates, row.trial_updates, ended
    )


def _sweep_rows(conn: sa.Connection, search_id: int) -> list[SweepRow]:
    query = sa.select(sweeps).where(sweeps.c.search_id == search_id).order_by(sweeps.c.trial_number)
    return [
        SweepRow(
            r.trial_number,
            r.optimizer,
            r.seed,
            r.state,
            r.updates,
            r.trial_updates,
            json.loads(r.curve_json),
            r.reason,
        )
        for r in conn.execute(query)
    ]


def _columns(row: SweepRow) -> dict[str, Any]:
    return {
        "trial_number": row.trial_number,
        "optimizer": row.optimizer,
        "seed": row.seed,
        "state": row.state,
        "updates": row.updates,
        "trial_updates": row.trial_updates,
        "curve_json": json.dumps(row.curve, sort_keys=True, allow_nan=False),
        "reason": row.reason,
    }


def sweep_updates_of(rows: Sequence[SweepRow]) -> int:
    """The updates the sweeps ran, all together."""
    return sum(r.updates for r in rows)
