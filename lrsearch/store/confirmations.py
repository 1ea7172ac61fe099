"""Confirmations after the search: the leaders kept, their slots, their rows, reading them.

While a search that confirms runs, each complete trial of its own may enter ``lr_leaders``
(its ``top_k`` best, kept under the search's row lock as ``lr_best`` keeps the best). When
the transaction that counts its last own trial finds confirmations due, it raises the budget
by their count (``confirm_trials``) and writes one ``lr_confirmations`` row per repeat of each
leader; the caller queues their trials in the same transaction (search/ledger), beside the
baselines' when both are due. So the claim counter keeps the budget exact with any number of
agents: the confirmations' slots exist only once the search's own slots are all used, and
exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.store.models import ACTIVE_STATUSES, confirmations, leaders, searches
from lrsearch.store.outcome import Outcome
from lrsearch.store.rows import Search, transaction


@dataclass(frozen=True)
class Leader:
    """One of the search's best complete trials of its own, as ``lr_leaders`` keeps it."""

    trial_number: int
    value: float
    config: Mapping[str, Any]


@dataclass(frozen=True)
class ConfirmationRow:
    """One row of ``lr_confirmations``."""

    confirms: int
    seed_index: int
    config: Mapping[str, Any]
    confirmed_value: float
    trial_number: int | None
    state: str
    value: float | None


def _ranked(search_id: int, maximize: bool) -> sa.Select[Any]:
    order = leaders.c.value.desc() if maximize else leaders.c.value.asc()
    return (
        sa.select(leaders.c.trial_number, leaders.c.value, leaders.c.config_json)
        .where(leaders.c.search_id == search_id)
        .order_by(order, leaders.c.trial_number)
    )


def keep_leader(
    conn: sa.Connection,
    search: Search,
    trial_number: int,
    value: float,
    config: Mapping[str, Any],
    keep: int,
) -> None:
    """A complete trial of the search's own enters its ``keep`` best (``lr_leaders``), the
    worst leaving beyond ``keep``. In the caller's transaction, under the search's row lock;
    ties go to the earlier trial. Reads at most ``keep + 1`` rows."""
    if keep <= 0:
        return
    conn.execute(
        leaders.insert().values(
            search_id=search.id,
            trial_number=trial_number,
            value=value,
            config_json=json.dumps(config, sort_keys=True),
        )
    )
    ranked = conn.execute(_ranked(search.id, search.direction == "maximize")).all()
    beyond = [row.trial_number for row in ranked[keep:]]
    if beyond:
        conn.execute(
            leaders.delete().where(
                leaders.c.search_id == search.id, leaders.c.trial_number.in_(beyond)
            )
        )


def confirmations_due(search: Search, outcome: Outcome, count: int) -> bool:
    """Whether counting ``outcome`` finishes the search's own trials with confirmations
    (``count`` at most) still to open (``search`` as locked, before the count)."""
    return (
        count > 0
        and outcome.final
        and search.confirm_trials == 0
        and search.status in ACTIVE_STATUSES
        and search.finished + 1 >= search.trial_budget
    )


def open_confirmations(conn: sa.Connection, search: Search, top_k: int, seeds: int) -> list[Leader]:
    """Add ``seeds`` slots for each of the search's ``top_k`` leaders (the search runs on);
    the leaders, best first, to build their configs from (none: nothing opens). In the
    caller's transaction, under the search's row lock."""
    ranked = conn.execute(_ranked(search.id, search.direction == "maximize").limit(top_k)).all()
    found = [Leader(r.trial_number, r.value, json.loads(r.config_json)) for r in ranked]
    if found:
        conn.execute(
            searches.update()
            .where(searches.c.id == search.id)
            .values(
                trial_budget=searches.c.trial_budget + len(found) * seeds,
                confirm_trials=len(found) * seeds,
                status="running",
            )
        )
    return found


def add_confirmations(
    conn: sa.Connection,
    search_id: int,
    rows: Sequence[tuple[Leader, int, Mapping[str, Any]]],
) -> None:
    """One queued ``lr_confirmations`` row per (leader, repeat, config), in the caller's
    transaction."""
    if rows:
        conn.execute(
            confirmations.insert(),
            [
                {
                    "search_id": search_id,
                    "confirms": leader.trial_number,
                    "seed_index": repeat,
                    "config_json": json.dumps(config, sort_keys=True),
                    "confirmed_value": leader.value,
                    "state": "queued",
                }
                for leader, repeat, config in rows
            ],
        )


def settle_confirmation(
    conn: sa.Connection,
    search_id: int,
    key: tuple[int, int],
    trial_number: int,
    outcome: Outcome,
    value: float | None,
) -> None:
    """A confirmation's trial ended for good: its state and value."""
    confirms, seed_index = key
    conn.execute(
        confirmations.update()
        .where(
            confirmations.c.search_id == search_id,
            confirmations.c.confirms == confirms,
            confirmations.c.seed_index == seed_index,
        )
        .values(
            trial_number=trial_number,
            state=outcome.value,
            value=value if outcome is Outcome.COMPLETE else None,
        )
    )


def confirmation_rows(engine: Engine, search_id: int) -> list[ConfirmationRow]:
    """The search's confirmations (``top_k * seeds`` at most: one primary-key range), by the
    trial they confirm and repeat."""
    query = (
        sa.select(confirmations)
        .where(confirmations.c.search_id == search_id)
        .order_by(confirmations.c.confirms, confirmations.c.seed_index)
    )
    with transaction(engine) as conn:
        rows = conn.execute(query).all()
    return [
        ConfirmationRow(
            r.confirms,
            r.seed_index,
            json.loads(r.config_json),
            r.confirmed_value,
            r.trial_number,
            r.state,
            r.value,
        )
        for r in rows
    ]


def leader_rows(engine: Engine, search: Search) -> list[Leader]:
    """The search's leaders, best first."""
    with transaction(engine) as conn:
        ranked = conn.execute(_ranked(search.id, search.direction == "maximize")).all()
    return [Leader(r.trial_number, r.value, json.loads(r.config_json)) for r in ranked]
