"""Schedule families and curve previews: no database involved."""

from __future__ import annotations

from fastapi import APIRouter, Response

from lrsearch.api.curves import with_curve
from lrsearch.api.deps import Reader, SlotsDep
from lrsearch.api.schemas import (
    CurvePublic,
    CurveRequest,
    FamiliesPublic,
    family_public,
)
from lrsearch.errors import InvalidInputError, ScheduleError
from lrsearch.schedules import ScheduleSpec, families

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], dependencies=[Reader])


@router.get("")
def list_families() -> FamiliesPublic:
    """Every family with its parameters, defaults and allowed ranges."""
    data = [family_public(fam) for fam in families()]
    return FamiliesPublic(data=data, count=len(data))


@router.post("/curve", response_model=CurvePublic)
def render_curve(request: CurveRequest, slots: SlotsDep) -> Response:
    """The LR of every update of a run of ``steps`` updates under ``schedule``.

    Streamed; more than 100,000 steps take a render slot (429 with Retry-After when all
    ``LRSEARCH_RENDER_SLOTS`` are busy).
    """
    try:
        spec = ScheduleSpec.from_dict(request.schedule.model_dump())
    except ScheduleError as exc:
        raise InvalidInputError(f"schedule.{exc.field}", exc.reason) from None
    head = CurvePublic(schedule=spec.to_dict(), steps=request.steps, lr=[])
    return with_curve(head, spec, request.steps, slots)
