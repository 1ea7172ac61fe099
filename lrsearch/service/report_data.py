"""What a study's report shows, gathered: the search and the trials that have a schedule.

The gathering lives here (lrsearch's tables, and Optuna's trials through its storage API);
lrsearch/report.py renders it. ``report_page`` is what the CLI and the HTTP route call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.errors import NotFoundError
from lrsearch.schedules import ScheduleSpec
from lrsearch.service.backend import Backend
from lrsearch.service.confirmed import confirmation_summary
from lrsearch.service.lr_range import lr_range_view
from lrsearch.service.names import known_name

DEFAULT_STEPS = 1000  # curves of a study whose best trial recorded no length


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str
    value: float | None
    schedule: ScheduleSpec
    optimizer: str
    baseline: str | None
    curve: dict[int, float]
    confirms: int | None = None  # the trial whose config this confirmation re-runs


@dataclass(frozen=True)
class ReportData:
    search: store.Search
    trials: list[TrialRow]  # trials that have a schedule (all that lrsearch ran)
    # ``best``'s confirmation (service/confirmed.py), None for a search that does not confirm
    confirmation: dict[str, Any] | None = None
    lr_range: dict[str, Any] | None = None  # the LR range test (service/lr_range.py)

    @property
    def maximize(self) -> bool:
        return self.search.direction == "maximize"

    def ranked(self, rows: Sequence[TrialRow]) -> list[TrialRow]:
        """Complete trials with a value, best first."""
        done = [r for r in rows if r.state == "COMPLETE" and r.value is not None]
        return sorted(done, key=lambda r: rank_key(r, self.maximize))

    @property
    def searched(self) -> list[TrialRow]:
        return [r for r in self.trials if r.baseline is None and r.confirms is None]

    @property
    def single_trials(self) -> list[TrialRow]:
        """Searched trials and baselines: what the best single trial is chosen from (a
        confirmation's seed was not searched)."""
        return [r for r in self.trials if r.confirms is None]

    @property
    def confirmed_winner(self) -> TrialRow | None:
        """The trial whose config has the best mean over its fresh seeds, once every
        confirmation has ended."""
        winner = (self.confirmation or {}).get("winner")
        return next((r for r in self.trials if r.number == winner), None)

    @property
    def baselines(self) -> list[TrialRow]:
        return [r for r in self.trials if r.baseline is not None]


def rank_key(row: TrialRow, maximize: bool) -> float:
    """Sorts complete trials best first."""
    assert row.value is not None
    return -row.value if maximize else row.value


def collect(engine: Engine, storage: BaseStorage, name: str) -> ReportData:
    """Read the search from lrsearch's tables and its trials through Optuna's storage API."""
    search = store.get_search(engine, name)
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        raise NotFoundError(f"study {name!r} has no Optuna study") from None
    rows = [_row(t) for t in storage.get_all_trials(study_id, deepcopy=False)]
    confirmation = confirmation_summary(
        store.confirmation_rows(engine, search.id), search.direction
    )
    return ReportData(search, [r for r in rows if r is not None], confirmation)


def _row(trial: FrozenTrial) -> TrialRow | None:
    schedule = trial.user_attrs.get("schedule")
    if not isinstance(schedule, dict):
        return None  # waiting, or failed before it had a config
    config = trial.user_attrs.get("config") or {}
    value = trial.value if trial.state.name == "COMPLETE" else None
    return TrialRow(
        number=trial.number,
        state=trial.state.name,
        value=value if value is not None and math.isfinite(value) else None,
        schedule=ScheduleSpec.from_dict(schedule, complete=True),
        optimizer=str(config.get("optimizer", "?")),
        baseline=trial.user_attrs.get("baseline"),
        curve={int(k): v for k, v in trial.intermediate_values.items() if math.isfinite(v)},
        confirms=trial.user_attrs.get("confirms"),
    )


class ReportRenderer(Protocol):
    """Turns the report's data into the page: ``lrsearch.report.render``, injected by the
    composition root (the report room imports this one, never the other way round)."""

    def __call__(
        self, data: ReportData, ranked: list[TrialRow], *, top_k: int, steps: int
    ) -> str: ...


def report_page(
    backend: Backend,
    name: str,
    render: ReportRenderer,
    *,
    top_k: int = 5,
    steps: int | None = None,
) -> str:
    """The report page of study ``name``, rendered by ``render``; curves drawn for ``steps``
    updates (by default the best trial's)."""
    data = collect(backend.reader, backend.optuna_storage(), known_name(name))
    data = replace(data, lr_range=lr_range_view(backend, name))
    steps = steps or best_steps(backend.reader, name) or DEFAULT_STEPS
    return render(data, data.ranked(data.single_trials), top_k=top_k, steps=steps)


def best_steps(engine: Engine, name: str) -> int | None:
    try:
        steps = store.best_summary(engine, name)["steps"]
    except NotFoundError:
        return None
    return int(steps) if steps else None
