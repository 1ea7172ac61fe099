"""Baselines after the search: their slots, their rows in ``lr_baselines``, and reading them.

A search's budget is all search. When the transaction that counts a search's last own trial
finds baselines due, it raises the budget by their count (``baseline_trials``) and writes one
``lr_baselines`` row per baseline, with the tuned best they are compared with; the caller
queues their trials in the same transaction (search/ledger). So the claim counter stays the one
thing that keeps the budget exact with any number of agents: the baselines' slots exist only
once the search's own slots are all used, and exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.store.models import ACTIVE_STATUSES, baselines, best, searches
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import Search, transaction


@dataclass(frozen=True)
class TunedBest:
    """The best complete trial of the search's own trials when its baselines open (or None
    fields when none completed)."""

    trial_number: int | None
    value: float | None
    config: Mapping[str, Any] | None


@dataclass(frozen=True)
class BaselineRow:
    """One row of ``lr_baselines``."""

    name: str
    config: Mapping[str, Any]
    tuned_trial: int | None
    tuned_value: float | None
    trial_number: int | None
    state: str
    value: float | None


def baselines_due(search: Search, outcome: Outcome, count: int) -> bool:
    """Whether counting ``outcome`` finishes the search's own trials with ``count`` baselines
    still to open (``search`` as locked, before the count)."""
    return (
        count > 0
        and outcome.final
        and search.baseline_trials == 0
        and search.status in ACTIVE_STATUSES
        and search.finished + 1 >= search.trial_budget
    )


def open_baselines(conn: sa.Connection, search: Search, count: int) -> TunedBest:
    """Add ``count`` slots for the baselines (the search runs on); the tuned best to build
    their configs from. In the caller's transaction, under the search's row lock."""
    conn.execute(
        searches.update()
        .where(searches.c.id == search.id)
        .values(
            trial_budget=searches.c.trial_budget + count,
            baseline_trials=count,
            status="running",
        )
    )
    row = conn.execute(
        sa.select(best.c.trial_number, best.c.value, best.c.config_json).where(
            best.c.search_id == search.id
        )
    ).first()
    if row is None:
        return TunedBest(None, None, None)
    return TunedBest(row.trial_number, row.value, json.loads(row.config_json))


def add_baselines(
    conn: sa.Connection,
    search_id: int,
    configs: Sequence[tuple[str, Mapping[str, Any]]],
    tuned: TunedBest,
) -> None:
    """One queued ``lr_baselines`` row per (name, config), in the caller's transaction."""
    if configs:
        conn.execute(
            baselines.insert(),
            [
                {
                    "search_id": search_id,
                    "name": name,
                    "config_json": json.dumps(config, sort_keys=True),
                    "tuned_trial": tuned.trial_number,
                    "tuned_value": tuned.value,
                    "state": "queued",
                }
                for name, config in configs
            ],
        )


def settle_baseline(
    conn: sa.Connection,
    search_id: int,
    name: str,
    trial_number: int,
    outcome: Outcome,
    value: float | None,
) -> None:
    """A baseline's trial ended for good: its state and value (no row: nothing to do, as for a
    search whose baselines ran first, before lr_baselines existed)."""
    conn.execute(
        baselines.update()
        .where(baselines.c.search_id == search_id, baselines.c.name == name)
        .values(
            trial_number=trial_number,
            state=outcome.value,
            value=value if outcome is Outcome.COMPLETE else None,
        )
    )


def baseline_rows(engine: Engine, search_id: int) -> list[BaselineRow]:
    """The search's baselines (at most a handful: one primary-key range), by name."""
    query = (
        sa.select(baselines).where(baselines.c.search_id == search_id).order_by(baselines.c.name)
    )
    with transaction(engine) as conn:
        rows = conn.execute(query).all()
    return [
        BaselineRow(
            r.name,
            json.loads(r.config_json),
            r.tuned_trial,
            r.tuned_value,
            r.trial_number,
            r.state,
            r.value,
        )
        for r in rows
    ]
