"""A study's trials: pages, one trial, and the finished trials' validation curves.

Trials are read through Optuna's storage API (never its tables with SQL), joined with
lrsearch's lease of each; a page holds at most 100 trials, so it costs the same whatever the
study's size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from optuna.trial import FrozenTrial

from lrsearch import store
from lrsearch.errors import NotFoundError
from lrsearch.schedules import ScheduleSpec, curve
from lrsearch.service.backend import Backend
from lrsearch.service.names import known_name


@dataclass(frozen=True)
class TrialCurve:
    """A finished trial's validation metric per epoch (what ``lrsearch search`` plots)."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL
    values: dict[int, float]  # epoch -> validation metric
    reason: str | None


def trial_page(
    backend: Backend, name: str, *, state: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Trials of study ``name`` by number (``state``: RUNNING, COMPLETE, PRUNED, FAIL), as
    JSON-ready data, and how many there are in all."""
    search = store.get_search(backend.reader, known_name(name))
    leases, total = store.trial_page(
        backend.reader, search.id, state=state, limit=limit, offset=offset
    )
    storage = backend.optuna_storage()
    return [trial_data(storage.get_trial(lease.optuna_trial_id), lease) for lease in leases], total


def trial_detail(
    backend: Backend, name: str, number: int, *, steps: int | None = None
) -> dict[str, Any]:
    """One trial with its per-epoch metrics; ``steps`` adds its schedule's curve as ``lr``."""
    search = store.get_search(backend.reader, known_name(name))
    storage = backend.optuna_storage()
    try:
        study_id = storage.get_study_id_from_name(name)
        trial = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
    except KeyError:
        raise NotFoundError(f"study {name!r} has no trial {number}") from None
    data = trial_data(trial, store.trial_lease(backend.reader, search.id, number))
    data["epochs"] = store.epochs_of(backend.reader, name, number)
    data["steps"] = planned_steps(search.spec, data["epochs"])
    data["fail_traceback"] = trial.user_attrs.get("fail_traceback")
    data["log_tail"] = trial.user_attrs.get("log_tail")
    if steps is not None and data["schedule"] is not None:
        spec = ScheduleSpec.from_dict(data["schedule"], complete=True)
        data["lr"] = curve(spec, steps).tolist()
    return data


def planned_steps(spec: Mapping[str, Any], epochs: list[dict[str, Any]]) -> int | None:
    """The updates a trial of this search trains in full: the spec's steps, or (epochs) what
    its reports say, since every report covers as many updates (None before its first)."""
    budget = spec.get("budget") or {}
    if budget.get("steps"):
        return int(budget["steps"])
    if not epochs:
        return None
    last = epochs[-1]
    reports = int(budget.get("epochs") or 10)  # SearchSpec's default length is 10 epochs
    return max(1, round(int(last["step"]) * reports / (int(last["epoch"]) + 1)))


def trial_curves(backend: Backend, name: str) -> list[TrialCurve]:
    """The finished trials' validation curves, by number."""
    known_name(name)
    storage = backend.optuna_storage()
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        raise NotFoundError(f"no study named {name!r}") from None
    return [
        TrialCurve(
            t.number, t.state.name, dict(t.intermediate_values), t.user_attrs.get("fail_reason")
        )
        for t in storage.get_all_trials(study_id, deepcopy=False)
        if t.state.is_finished()
    ]


def trial_data(trial: FrozenTrial, lease: store.TrialLease | None) -> dict[str, Any]:
    """An Optuna trial (read through its storage API) with lrsearch's lease of it."""
    attrs = trial.user_attrs
    config = attrs.get("config") or {}
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": _finite(trial.value) if trial.state.name == "COMPLETE" else None,
        "params": dict(trial.params),
        "schedule": attrs.get("schedule"),
        "optimizer": config.get("optimizer"),
        "baseline": attrs.get("baseline"),
        "confirms": attrs.get("confirms"),
        "attempt": int(attrs.get("attempt", lease.attempt if lease else 1)),
        "worker": lease.worker if lease else None,
        "fail_reason": attrs.get("fail_reason") or (lease.reason if lease else None),
        "intermediate_values": {
            str(k): v for k, v in sorted(trial.intermediate_values.items()) if math.isfinite(v)
        },
        "started_at": local_to_utc(trial.datetime_start),
        "completed_at": local_to_utc(trial.datetime_complete),
    }


def local_to_utc(moment: datetime | None) -> datetime | None:
    """An Optuna time (naive, in the local time of the process that wrote it: Optuna stores
    ``datetime.now()``) as an aware UTC time. Read where it was written (the agents and the
    server share a time zone), this is exact; elsewhere the zone is the reader's."""
    return moment.astimezone(UTC) if moment is not None else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
