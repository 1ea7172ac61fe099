"""Studies (searches): list, submit, read, stop, delete; their trials and best schedule."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from lrsearch import store
from lrsearch.api.deps import BackendDep, Reader, SettingsDep, Writer
from lrsearch.api.schemas import (
    MAX_CURVE_STEPS,
    MAX_INT,
    BestPublic,
    StudiesPublic,
    StudyPublic,
    TrialDetail,
    TrialsPublic,
    study_public,
    trial_public,
)
from lrsearch.config import Settings
from lrsearch.errors import ConflictError, InvalidInputError, NotFoundError
from lrsearch.schedules import ScheduleSpec, curve
from lrsearch.schedules.codegen import pytorch_snippet
from lrsearch.search.create import Direction, open_search
from lrsearch.spec import USER_TASK_PREFIX, SearchSpec

router = APIRouter(prefix="/v1/studies", tags=["studies"])

Name = Annotated[str, Path(description="the study (search) name", max_length=128)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="rows to skip")]
Steps = Annotated[
    int | None,
    Query(ge=1, le=MAX_CURVE_STEPS, description="render the schedule for a run of N updates"),
]
State = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL"]


@router.get("", dependencies=[Reader])
def list_studies(backend: BackendDep, limit: Limit = 100, offset: Offset = 0) -> StudiesPublic:
    """Studies in creation order, with counts by state and the best value; never loads trials."""
    page, total = store.search_page(backend.reader, limit=limit, offset=offset)
    return StudiesPublic(
        data=[study_public(s) for s in page], count=total, limit=limit, offset=offset
    )


@router.post("", status_code=201, dependencies=[Writer])
def submit_study(spec: SearchSpec, backend: BackendDep, settings: SettingsDep) -> StudyPublic:
    """Create a search from a SearchSpec (the TOML file's structure, as JSON); agents run it."""
    metric, direction = _metric_of(spec, settings)
    store.require_current(backend.writer)
    open_search(
        backend.writer,
        backend.optuna_storage(),
        spec,
        metric=metric,
        direction=direction,
        resume=False,
    )
    return study_public(store.search_summary(backend.writer, spec.name))


def _metric_of(spec: SearchSpec, settings: Settings) -> tuple[str, Direction]:
    """The metric and direction, without importing the task (the server never imports torch).

    A ``python:`` task is accepted only if the server allows its module, and must name its
    metric and direction, which the server cannot learn without importing it.
    """
    if not spec.task.startswith(USER_TASK_PREFIX):
        return spec.resolved_metric()
    module = spec.task[len(USER_TASK_PREFIX) :].partition(":")[0]
    if module not in settings.allowed_modules:
        allowed = ", ".join(sorted(settings.allowed_modules)) or "none"
        raise InvalidInputError(
            "task",
            f"module {module!r} is not allowed on this server "
            f"(LRSEARCH_ALLOWED_TASK_MODULES allows: {allowed})",
        )
    for field, value in (("metric", spec.metric), ("direction", spec.direction)):
        if value is None:
            raise InvalidInputError(field, "is required for a python: task submitted over HTTP")
    assert spec.metric is not None and spec.direction is not None
    return spec.metric, spec.direction


@router.get("/{name}", dependencies=[Reader])
def get_study(name: Name, backend: BackendDep) -> StudyPublic:
    return study_public(store.search_summary(backend.reader, name))


@router.post("/{name}/stop", dependencies=[Writer])
def stop_study(name: Name, backend: BackendDep) -> StudyPublic:
    """No new trials start; running ones finish; then the study is done."""
    store.stop_search(backend.writer, name)
    return study_public(store.search_summary(backend.writer, name))


@router.delete("/{name}", status_code=204, dependencies=[Writer])
def delete_study(name: Name, backend: BackendDep) -> Response:
    """Remove the study's rows from lrsearch's tables and Optuna's. Stop it first."""
    search = store.get_search(backend.writer, name)
    if search.status in ("queued", "running", "stopping"):
        raise ConflictError(
            f"study {name!r} is {search.status}: stop it (POST /v1/studies/{name}/stop) and "
            "delete it once it is done"
        )
    storage = backend.optuna_storage()
    with contextlib.suppress(KeyError):  # no Optuna study (deleted before): ours still go
        storage.delete_study(storage.get_study_id_from_name(name))
    store.delete_search(backend.writer, name)
    return Response(status_code=204)


@router.get("/{name}/trials", dependencies=[Reader])
def list_trials(
    name: Name,
    backend: BackendDep,
    state: Annotated[State | None, Query(description="only trials in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 50,
    offset: Offset = 0,
) -> TrialsPublic:
    """The study's trials by number (attempts that were abandoned and re-run included).

    Each trial is read through Optuna's storage API, a few queries apiece: pages hold at most
    100 trials, so a page costs the same whatever the study's size.
    """
    search = store.get_search(backend.reader, name)
    leases, total = store.trial_page(
        backend.reader, search.id, state=state, limit=limit, offset=offset
    )
    storage = backend.optuna_storage()
    data = [trial_public(storage.get_trial(lease.optuna_trial_id), lease) for lease in leases]
    return TrialsPublic.model_validate(
        {"data": data, "count": total, "limit": limit, "offset": offset}
    )


@router.get("/{name}/trials/{number}", dependencies=[Reader])
def get_trial(
    name: Name,
    number: Annotated[int, Path(ge=0, le=MAX_INT)],
    backend: BackendDep,
    steps: Steps = None,
) -> TrialDetail:
    """One trial: parameters, schedule, state, intermediate values and per-epoch metrics."""
    search = store.get_search(backend.reader, name)
    storage = backend.optuna_storage()
    try:
        study_id = storage.get_study_id_from_name(name)
        trial = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
    except KeyError:
        raise NotFoundError(f"study {name!r} has no trial {number}") from None
    data: dict[str, Any] = trial_public(trial, store.trial_lease(backend.reader, search.id, number))
    data["epochs"] = store.epochs_of(backend.reader, name, number)
    if steps is not None and data["schedule"] is not None:
        spec = ScheduleSpec.from_dict(data["schedule"], complete=True)
        data["lr"] = curve(spec, steps).tolist()
    return TrialDetail.model_validate(data)


@router.get(
    "/{name}/best",
    dependencies=[Reader],
    responses={
        200: {"content": {"text/x-python": {"schema": {"type": "string"}}}},
        404: {"description": "no such study, or no complete trial yet"},
    },
)
def get_best(
    name: Name,
    backend: BackendDep,
    steps: Steps = None,
    format: Annotated[
        Literal["json", "pytorch"], Query(description="json, or a self-contained PyTorch snippet")
    ] = "json",
) -> Any:
    """The best schedule: JSON (``?steps=N`` adds its curve), or PyTorch code that builds it."""
    best = store.best_summary(backend.reader, name)
    spec = ScheduleSpec.from_dict(best["schedule"], complete=True)
    if format == "pytorch":
        title = f"best trial {best['trial_number']} of study {name!r}: {best['metric']} = "
        title += f"{best['value']:.6g}, optimizer {best['optimizer']}"
        code = pytorch_snippet(
            spec,
            total_steps=steps or best["steps"],
            title=title,
            metric_mode="max" if best["direction"] == "maximize" else "min",
        )
        return PlainTextResponse(code, media_type="text/x-python")
    if steps is not None:
        best["lr"] = curve(spec, steps).tolist()
    return BestPublic.model_validate(best)


@router.get(
    "/{name}/report",
    dependencies=[Reader],
    response_model=None,
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "the report page",
        }
    },
)
def get_report(
    name: Name,
    backend: BackendDep,
    steps: Steps = None,
    top_k: Annotated[int, Query(ge=1, le=20, description="schedules in the top-k plot")] = 5,
) -> HTMLResponse:
    """The study's report: one HTML page with inline SVG plots that works offline."""
    from lrsearch.report import study_report  # matplotlib: loaded on the first report only

    page = study_report(backend.reader, backend.optuna_storage(), name, top_k=top_k, steps=steps)
    return HTMLResponse(page)
