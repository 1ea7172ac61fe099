"""Studies (searches): list, submit, read, stop, extend, retry, delete; trials; best schedule.

Each route is a few lines over lrsearch.service; the wire format is in schemas.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BeforeValidator

from lrsearch import service
from lrsearch.api.curves import with_curve
from lrsearch.api.deps import BackendDep, PolicyDep, Reader, RendererDep, SlotsDep, Writer
from lrsearch.api.schemas import (
    MAX_CURVE_STEPS,
    MAX_INT,
    BestPublic,
    ExtendRequest,
    RetriedPublic,
    RetryRequest,
    StudiesPublic,
    StudyPublic,
    TrialDetail,
    TrialsPublic,
    lowered,
    study_public,
)
from lrsearch.schedules import ScheduleSpec
from lrsearch.spec import SearchSpec

router = APIRouter(prefix="/v1/studies", tags=["studies"])

Name = Annotated[str, Path(description="the study (search) name", max_length=128)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="rows to skip")]
Steps = Annotated[
    int | None,
    Query(ge=1, le=MAX_CURVE_STEPS, description="render the schedule for a run of N updates"),
]
State = Annotated[
    Literal["running", "complete", "pruned", "fail"] | None,
    BeforeValidator(lowered),
    Query(description="only trials in this state (either casing: complete or COMPLETE)"),
]
Format = Annotated[
    Literal["json", "pytorch"], Query(description="json, or a self-contained PyTorch snippet")
]
TopK = Annotated[int, Query(ge=1, le=20, description="schedules in the top-k plot")]


@router.get("", dependencies=[Reader])
def list_studies(backend: BackendDep, limit: Limit = 100, offset: Offset = 0) -> StudiesPublic:
    """Studies in creation order, with counts by state and the best value; never loads trials."""
    page, total = service.list_studies(backend, limit=limit, offset=offset)
    data = [study_public(s) for s in page]
    return StudiesPublic(data=data, count=total, limit=limit, offset=offset)


@router.post("", status_code=201, dependencies=[Writer])
def submit_study(
    spec: SearchSpec, backend: BackendDep, policy: PolicyDep, response: Response
) -> StudyPublic:
    """Create a search from a SearchSpec (the TOML file's structure, as JSON); agents run it.

    ``python:`` tasks only from the server's allowed modules, naming metric and direction;
    data files only inside the server's data roots. The ``Location`` header names the study.
    """
    search = service.create_search(backend, spec, policy, resume=False)
    response.headers["Location"] = f"/v1/studies/{search.name}"
    return study_public(service.get_study(backend, search.name))


@router.get("/{name}", dependencies=[Reader])
def get_study(name: Name, backend: BackendDep) -> StudyPublic:
    return study_public(service.get_study(backend, name))


@router.post("/{name}/stop", dependencies=[Writer])
def stop_study(name: Name, backend: BackendDep) -> StudyPublic:
    """No new trials start; running ones finish; then the study is done."""
    return study_public(service.stop_study(backend, name))


@router.post("/{name}/extend", dependencies=[Writer])
def extend_study(name: Name, body: ExtendRequest, backend: BackendDep) -> StudyPublic:
    """Add ``trials`` to the study's budget, finished or running; a finished study becomes
    live again and agents run the new trials."""
    return study_public(service.extend_study(backend, name, body.trials))


@router.post("/{name}/retry", dependencies=[Writer])
def retry_study(name: Name, body: RetryRequest, backend: BackendDep) -> RetriedPublic:
    """Queue the failed trials' exact parameters again, with budget for them (after a fix)."""
    done = service.retry_failed(backend, name)
    return RetriedPublic(
        requeued=done.requeued,
        fresh=done.fresh,
        study=study_public(service.get_study(backend, name)),
    )


@router.delete("/{name}", status_code=204, dependencies=[Writer])
def delete_study(name: Name, backend: BackendDep) -> Response:
    """Remove the study's rows from lrsearch's tables and Optuna's. Stop it first."""
    service.delete_study(backend, name)
    return Response(status_code=204)


@router.get("/{name}/trials", dependencies=[Reader])
def list_trials(
    name: Name,
    backend: BackendDep,
    state: State = None,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 50,
    offset: Offset = 0,
) -> TrialsPublic:
    """The study's trials by number (attempts that were abandoned and re-run included).

    A page holds at most 100 trials, so it costs the same whatever the study's size.
    """
    upper = state.upper() if state is not None else None  # Optuna's names, as stored
    data, total = service.trial_page(backend, name, state=upper, limit=limit, offset=offset)
    page = {"data": data, "count": total, "limit": limit, "offset": offset}
    return TrialsPublic.model_validate(page)


@router.get("/{name}/trials/{number}", dependencies=[Reader], response_model=TrialDetail)
def get_trial(
    name: Name,
    number: Annotated[int, Path(ge=0, le=MAX_INT)],
    backend: BackendDep,
    slots: SlotsDep,
    steps: Steps = None,
) -> TrialDetail | Response:
    """One trial: parameters, schedule, state, intermediate values and per-epoch metrics."""
    trial = TrialDetail.model_validate(service.trial_detail(backend, name, number))
    if steps is None or trial.schedule is None:
        return trial
    spec = ScheduleSpec.from_dict(trial.schedule, complete=True)
    return with_curve(trial, spec, steps, slots)


@router.get(
    "/{name}/best",
    dependencies=[Reader],
    responses={
        200: {"content": {"text/x-python": {"schema": {"type": "string"}}}},
        404: {"description": "no such study, or no complete trial yet"},
    },
)
def get_best(
    name: Name, backend: BackendDep, slots: SlotsDep, steps: Steps = None, format: Format = "json"
) -> Any:
    """The best schedule: JSON (``?steps=N`` adds its curve), or PyTorch code that builds it."""
    if format == "pytorch":
        code = service.best_pytorch(backend, name, steps=steps)
        return PlainTextResponse(code, media_type="text/x-python")
    best = BestPublic.model_validate(service.best_config(backend, name))
    if steps is None:
        return best
    return with_curve(best, ScheduleSpec.from_dict(best.schedule, complete=True), steps, slots)


@router.get("/{name}/lr-range", dependencies=[Reader])
def get_lr_range(name: Name, backend: BackendDep) -> dict[str, Any]:
    """The LR range test: the peak-LR range chosen per optimizer and why, its cost, and each
    sweep's smoothed curve (``state`` is off, sweeping or done)."""
    return service.lr_range_view(backend, name)


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
    render: RendererDep,
    slots: SlotsDep,
    steps: Steps = None,
    top_k: TopK = 5,
) -> HTMLResponse:
    """The study's report: one HTML page with inline SVG plots that works offline.

    Rendering takes a render slot (429 with Retry-After when all are busy)."""
    release = slots.take()
    try:
        page = service.report_page(backend, name, render, top_k=top_k, steps=steps)
    finally:
        release()
    return HTMLResponse(page)
