"""What a finished (or running) search found: the best config and the trials' curves.

Reads Optuna's trials through its storage API only (never its tables with SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from lrsearch import store
from lrsearch.errors import NotFoundError


@dataclass(frozen=True)
class TrialCurve:
    number: int
    state: str  # COMPLETE, PRUNED, FAIL
    values: dict[int, float]  # epoch -> validation metric
    reason: str | None


def best_config(storage_url: str, name: str) -> dict[str, Any]:
    """The best trial of a search as JSON-ready data (what ``lrsearch best`` prints)."""
    engine = store.make_engine(storage_url)
    try:
        store.require_current(engine)
        return store.best_summary(engine, name)
    finally:
        engine.dispose()


def trial_curves(storage_url: str, name: str) -> list[TrialCurve]:
    storage = store.make_optuna_storage(storage_url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise NotFoundError(f"no study named {name!r}") from None
    return [
        TrialCurve(
            t.number, t.state.name, dict(t.intermediate_values), t.user_attrs.get("fail_reason")
        )
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished()
    ]
