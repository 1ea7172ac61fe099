"""Recording an LR range test's sweeps and, with the last one, the range: one function that
the ledger calls when it counts a sweep, and that the reaper calls for sweeps no worker
recorded (ended for good by the reaper, or by a worker that died before counting them).

Both run it under the search's row lock, so exactly one transaction sees the last sweep and
stores the range; a sweep already stored is not stored again, so the two may overlap.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.schedules import RangeSweep
from lrsearch.space.lr_range import (
    SweepReading,
    choose_range,
    read_sweep,
    sweep_charge,
    sweep_of,
)
from lrsearch.spec import SearchSpec, parse_spec
from lrsearch.store import Outcome

log = logging.getLogger("lrsearch.recovery")

ABANDONED = ("worker lost", "interrupted")  # a FAIL with these reasons runs again


def settle_sweep(
    conn: sa.Connection, search_id: int, spec: SearchSpec, row: store.SweepRow
) -> None:
    """Store the ended sweep ``row``; after the last one, the range per optimizer, what the
    sweeps cost, and the claims open (store/lr_ranges.py). In the caller's transaction, under
    the search's row lock."""
    ended = store.record_sweep(conn, search_id, row)
    if ended is None:
        return
    ranges: dict[str, dict[str, Any]] = {
        optimizer: choose_range(
            optimizer,
            [SweepReading.from_dict(r.curve) for r in ended if r.optimizer == optimizer],
            spec.space.lr,
        ).to_dict()
        for optimizer in spec.space.optimizers
    }
    planned = sorted(r.trial_updates for r in ended if r.trial_updates)
    trial_updates = spec.budget.steps or (planned[len(planned) // 2] if planned else None)
    updates = [r.updates for r in ended]
    store.settle_range(
        conn,
        search_id,
        ranges,
        charge=sweep_charge(updates, trial_updates, spec.budget.trials),
        sweep_updates=sum(updates),
        trial_updates=trial_updates,
    )


def settle_unrecorded(engine: Engine, trials_of: Any) -> int:
    """Store the sweeps that ended for good but that no worker recorded, from their epoch
    rows, for every search whose range test is still sweeping; returns how many.

    ``trials_of(name)``: the study's finished trials (the reaper's Optuna storage). A worker
    that counts its sweep writes its epochs before telling Optuna, so the rows are whole.
    """
    settled = 0
    for test in store.sweeping_tests(engine):
        stored = {r.trial_number for r in test.ended}
        for trial in trials_of(test.name):
            info = sweep_of(trial.user_attrs)
            if info is None or trial.number in stored or not _final(trial):
                continue
            row = _row_from_epochs(engine, test.name, trial, info)
            spec = parse_spec(test.spec)
            with store.transaction(engine) as conn:
                store.lock_search(conn, test.search_id)
                settle_sweep(conn, test.search_id, spec, row)
            log.warning("stored sweep trial %d of %s for its worker", trial.number, test.name)
            settled += 1
    return settled


def _final(trial: FrozenTrial) -> bool:
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("fail_reason") not in ABANDONED


def _row_from_epochs(
    engine: Engine, name: str, trial: FrozenTrial, info: dict[str, Any]
) -> store.SweepRow:
    rows = store.epochs_of(engine, name, trial.number)
    points = [(r["lr"], r["train_loss"]) for r in rows if r["lr"] and r["train_loss"] is not None]
    planned = RangeSweep.from_dict(info).sized(trial.user_attrs.get("sweep_trial_updates"))
    reading = read_sweep(
        [lr for lr, _ in points], [loss for _, loss in points], False, planned.steps
    )
    updates = trial.user_attrs.get("sweep_updates", max((r["step"] for r in rows), default=0))
    outcome = Outcome.of_finished_state(trial.state)
    return store.SweepRow(
        trial.number,
        str(info.get("optimizer", "?")),
        int(info.get("seed", 0)),
        outcome.value,
        int(updates),
        trial.user_attrs.get("sweep_trial_updates"),
        reading.to_dict(),
        trial.user_attrs.get("fail_reason") or trial.user_attrs.get("sweep_note"),
    )
