"""Creating a search: lrsearch's row and the Optuna study, together, all or nothing.

One path for ``lrsearch search`` and ``lrsearch submit`` (which resume a search of the same
spec) and ``POST /v1/studies`` (where a taken name is a conflict): the spec was validated once
at the edge; the creator's policy admits it; the metric comes from the catalog (or the policy's
probe); then the study and the row are written, and anything that fails after the Optuna study
exists deletes it again, so a failed creation never burns the name. Never imports torch.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from lrsearch.service import notes
from lrsearch.service.backend import Backend
from lrsearch.service.policy import SubmitPolicy
from lrsearch.space import grid_space
from lrsearch.space.lr_range import sweep_attrs, sweep_count
from lrsearch.spec import Direction, SearchSpec, parse_spec

__all__ = ["Direction", "create_search", "open_search", "trial_budget"]


def create_search(
    backend: Backend, spec: SearchSpec, policy: SubmitPolicy, *, resume: bool
) -> store.Search:
    """Create the search ``spec`` describes; with ``resume``, find a search of the same spec.

    ``policy`` says what the creator may name (see policy.py). Errors: InvalidInputError
    naming the field, ConflictError for a taken name (or, resuming, a different spec).

    >>> with Backend.from_settings(settings) as backend:  # doctest: +SKIP
    ...     create_search(backend, parse_spec(body), SubmitPolicy.http(settings), resume=False)
    """
    spec = policy.admit(spec)
    fresh = resume and not _is_current(backend.writer)  # the CLI may start a new database
    if not fresh:
        store.require_current(backend.writer)
        existing = store.find_search(backend.writer, spec.name)
        if existing is not None:
            if not resume:
                raise ConflictError(f"a study named {spec.name!r} already exists")
            return _resume(backend.writer, existing, spec)
    metric, direction = policy.metric_of(spec)  # before a fresh database gets its tables
    if fresh:
        store.ensure_current(backend.writer)
    return open_search(
        backend.writer,
        backend.optuna_storage(),
        spec,
        metric=metric,
        direction=direction,
        resume=resume,
    )


def _is_current(engine: Engine) -> bool:
    try:
        store.require_current(engine)
    except (StoreError, NotFoundError):  # no tables yet, or no database file yet
        return False
    return True


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
    _check_storable(spec)
    created_here = False
    try:
        created_here = _create_optuna_study(storage, spec, metric, direction, load_if_exists=resume)
        if created_here:
            _queue_sweeps(storage, spec)
        return store.create_search(
            engine,
            name=spec.name,
            spec=spec.to_json_dict(),
            task=spec.label,
            metric=metric,
            direction=direction,
            trial_budget=trial_budget(spec),
            sweeps=sweep_count(spec) if created_here else 0,
        )
    except BaseException:
        if created_here:  # leave nothing behind: the name stays free for a retry
            with contextlib.suppress(Exception):
                storage.delete_study(storage.get_study_id_from_name(spec.name))
        raise


def _queue_sweeps(storage: BaseStorage, spec: SearchSpec) -> None:
    """The LR range test's sweeps, queued as the study's first trials (space/lr_range.py)."""
    attrs = sweep_attrs(spec)
    if not attrs:
        return
    study_id = storage.get_study_id_from_name(spec.name)
    for user_attrs in attrs:
        template = optuna.trial.create_trial(
            state=TrialState.WAITING, system_attrs={"fixed_params": {}}, user_attrs=user_attrs
        )
        storage.create_new_trial(study_id, template_trial=template)


def _check_storable(spec: SearchSpec) -> None:
    """Every field must become strict JSON (PostgreSQL refuses NaN), checked before anything
    is written; the error names the first field that cannot."""
    for key, value in spec.to_json_dict().items():
        try:
            json.dumps(value, allow_nan=False)
        except (ValueError, TypeError, RecursionError) as exc:
            reason = "nests too deep" if isinstance(exc, RecursionError) else str(exc)
            raise InvalidInputError(key, f"cannot be stored as JSON: {reason}") from None


def _resume(engine: Engine, existing: store.Search, spec: SearchSpec) -> store.Search:
    # Fields added since the search was stored take their defaults on both sides.
    stored = parse_spec(existing.spec).to_json_dict()
    if stored != spec.to_json_dict():
        raise ConflictError(_different_spec(existing, stored, spec))
    if existing.status in ("stopping", "failed"):
        store.set_status(engine, spec.name, "running")
    return store.get_search(engine, spec.name)


def _different_spec(existing: store.Search, stored: dict[str, Any], spec: SearchSpec) -> str:
    """The conflict's message; a spec that differs only in its trial budget is an extension."""
    name = spec.name
    wanted = spec.to_json_dict()
    budget = dict(wanted["budget"], trials=stored["budget"]["trials"])
    if {**wanted, "budget": budget} == stored:
        more = spec.budget.trials - existing.trial_budget
        how = f"--trials {more}" if more > 0 else "--trials N"
        return (
            f"a search named {name!r} already exists with {existing.trial_budget} trials: to "
            f"add trials to it, run `lrsearch extend {name} {how}` (or POST "
            f"/v1/studies/{name}/extend); to start over, give this spec another name"
        )
    return (
        f"a search named {name!r} already exists with a different spec: give this one "
        "another name, or run the same spec to resume (more trials: `lrsearch extend`)"
    )


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
    if exists:
        _describe(study, spec, metric)
        return False
    try:  # from here on the study is this call's: any failure must delete it
        _describe(study, spec, metric)
        # No baselines among the first trials: they run after the search, at its tuned best's
        # LR, on slots of their own (space/baselines.py); each one's note says what it is.
        notes.save(study, notes.study_note(spec, metric, direction))
    except BaseException:
        with contextlib.suppress(Exception):
            storage.delete_study(storage.get_study_id_from_name(spec.name))
        raise
    return True


def _describe(study: optuna.Study, spec: SearchSpec, metric: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([metric])  # optuna-dashboard's axes say val_accuracy, not "0"
    study.set_user_attr("lrsearch_spec", spec.to_json_dict())


def trial_budget(spec: SearchSpec) -> int:
    """The spec's trials; a grid search never runs more trials than its grid has points."""
    if spec.search.sampler == "grid":
        points = math.prod(len(values) for values in grid_space(spec).values())
        return min(spec.budget.trials, points)
    return spec.budget.trials
