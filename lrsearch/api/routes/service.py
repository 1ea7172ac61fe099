"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from lrsearch import service
from lrsearch.api.deps import BackendDep
from lrsearch.api.schemas import Health, Ready
from lrsearch.errors import LRSearchError

router = APIRouter(tags=["service"])


@router.get("/health")
def health() -> Health:
    """The process is up (it does not touch the database)."""
    return Health(status="ok")


@router.get("/ready", responses={503: {"description": "database unreachable or outdated"}})
def ready(backend: BackendDep) -> Ready:
    """The database answers and its schema is current: the service can do its work."""
    try:
        revision = service.readiness(backend)
    except LRSearchError as exc:  # no database file, no tables, outdated, unreachable
        raise HTTPException(503, f"not ready: {exc}") from None
    return Ready(status="ready", schema_revision=revision)
