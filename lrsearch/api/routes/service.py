"""Liveness, readiness and the agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from lrsearch import service
from lrsearch.api.deps import BackendDep, Reader, SettingsDep
from lrsearch.api.schemas import AgentPublic, AgentsPublic, Health, Ready
from lrsearch.errors import LRSearchError

router = APIRouter(tags=["service"])


@router.get("/health")
def health() -> Health:
    """The process is up (it does not touch the database)."""
    return Health(status="ok")


@router.get("/ready", responses={503: {"description": "database unreachable or outdated"}})
def ready(backend: BackendDep, settings: SettingsDep) -> Ready:
    """The database answers and its schema is current: the service can do its work. It also
    says how many agents are alive (0 is still ready: agents may start later, elsewhere)."""
    try:
        state = service.readiness(backend, settings.stale_after_s)
    except LRSearchError as exc:  # no database file, no tables, outdated, unreachable
        raise HTTPException(503, f"not ready: {exc}") from None
    return Ready(
        status="ready", schema_revision=state.schema_revision, agents_alive=state.agents_alive
    )


@router.get("/v1/agents", dependencies=[Reader], tags=["agents"])
def list_agents(
    backend: BackendDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
) -> AgentsPublic:
    """The agents (``lrsearch worker`` processes), alive ones first: each one's state (alive,
    stopped, or lost: silent for the stale window without saying goodbye) and its trials."""
    agents = service.list_agents(backend, settings.stale_after_s, limit=limit)
    data = [AgentPublic.model_validate(agent, from_attributes=True) for agent in agents]
    return AgentsPublic(data=data, alive=sum(a.state == "alive" for a in agents))
