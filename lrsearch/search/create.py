"""Creating a search: lrsearch's row and the Optuna study, together. Never imports torch.

Used by ``lrsearch search`` and ``lrsearch submit`` (which resume a search of the same spec) and
by ``POST /v1/studies`` (where a taken name is a conflict).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Literal

import optuna
from optuna.storages import BaseStorage
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.errors import ConflictError
from lrsearch.search import notes
from lrsearch.space import baseline_attrs, baseline_configs, grid_space
from lrsearch.spec import SearchSpec, parse_spec

Direction = Literal["minimize", "maximize"]


def open_search(
    engine: Engine,
    storage: BaseStorage,
    spec: SearchSpec,
    *,
    metric: str,
    direction: Direction,
    resume: bool,
) -> store.Search:
    """Create the search (lrsearch row + Optuna study); with ``resume``, find it again.

    Resuming a search of the same name with a different spec is a ConflictError: one study
    must never mix two experiments. Without ``resume`` any taken name is a ConflictError.
    """
    existing = store.find_search(engine, spec.name)
    if existing is not None:
        if not resume:
            raise ConflictError(f"a study named {spec.name!r} already exists")
        return _resume(engine, existing, spec)
    created_here = _create_optuna_study(storage, spec, metric, direction, load_if_exists=resume)
    try:
        return store.create_search(
            engine,
            name=spec.name,
            spec=spec.to_json_dict(),
            task=spec.task,
            metric=metric,
            direction=direction,
            trial_budget=trial_budget(spec),
        )
    except BaseException:
        if created_here:  # leave nothing behind: the name stays free for a retry
            with contextlib.suppress(Exception):
                storage.delete_study(storage.get_study_id_from_name(spec.name))
        raise


def _resume(engine: Engine, existing: store.Search, spec: SearchSpec) -> store.Search:
    # Fields added since the search was stored take their defaults on both sides.
    if parse_spec(existing.spec).to_json_dict() != spec.to_json_dict():
        raise ConflictError(
            f"a search named {spec.name!r} already exists with a different spec: "
            "give this one another name, or run the same spec to resume"
        )
    if existing.status in ("stopping", "cancelled", "failed"):
        store.set_status(engine, spec.name, "running")
    return store.get_search(engine, spec.name)


def _create_optuna_study(
    storage: BaseStorage,
    spec: SearchSpec,
    metric: str,
    direction: Direction,
    *,
    load_if_exists: bool,
) -> bool:
    """Create the Optuna study; returns whether this call created it."""
    try:
        storage.get_study_id_from_name(spec.name)
        exists = True
    except KeyError:
        exists = False
    if exists and not load_if_exists:
        raise ConflictError(f"an Optuna study named {spec.name!r} already exists")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            study = optuna.create_study(
                study_name=spec.name,
                storage=storage,
                direction=direction,
                load_if_exists=load_if_exists,
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise ConflictError(f"an Optuna study named {spec.name!r} already exists") from None
        study.set_metric_names([metric])  # optuna-dashboard's axes say val_accuracy, not "0"
    study.set_user_attr("lrsearch_spec", spec.to_json_dict())
    if not exists:  # a new study: its first trials are the baselines
        for name, config in baseline_configs(spec):
            study.enqueue_trial({}, user_attrs=baseline_attrs(name, config))
        notes.save(study, notes.study_note(spec, metric, direction))
    return not exists


def trial_budget(spec: SearchSpec) -> int:
    """The spec's trials; a grid search never runs more trials than its grid has points."""
    if spec.search.sampler == "grid":
        points = math.prod(len(values) for values in grid_space(spec).values())
        return min(spec.budget.trials, points)
    return spec.budget.trials
