"""Schedule families and curve previews: no database involved."""

from __future__ import annotations

from fastapi import APIRouter

from lrsearch.api.deps import Reader
from lrsearch.api.schemas import (
    CurvePublic,
    CurveRequest,
    FamiliesPublic,
    family_public,
)
from lrsearch.errors import InvalidInputError, ScheduleError
from lrsearch.schedules import ScheduleSpec, curve, families

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], dependencies=[Reader])


@router.get("")
def list_families() -> FamiliesPublic:
    """Every family with its parameters, defaults and allowed ranges."""
    data = [family_public(fam) for fam in families()]
    return FamiliesPublic(data=data, count=len(data))


@router.post("/curve")
def render_curve(request: CurveRequest) -> CurvePublic:
    """The LR of every update of a run of ``steps`` updates under ``schedule``."""
    try:
        spec = ScheduleSpec.from_dict(request.schedule.model_dump())
    except ScheduleError as exc:
        raise InvalidInputError(f"schedule.{exc.field}", exc.reason) from None
    return CurvePublic(
        schedule=spec.to_dict(), steps=request.steps, lr=curve(spec, request.steps).tolist()
    )
