"""Agents as the service shows them: how many are alive, and each one's state and load.

An agent is alive while its heartbeat is younger than the stale window (``stale_after_s``, the
same rule that reaps a lease), judged by the database's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrsearch import store
from lrsearch.service.backend import Backend
from lrsearch.store.migrate import head_revision


@dataclass(frozen=True)
class Readiness:
    schema_revision: str
    agents_alive: int


def readiness(backend: Backend, stale_after_s: float) -> Readiness:
    """The schema revision and the live agents, once the database answers and its schema is
    current (else a StoreError saying which)."""
    store.require_current(backend.reader)
    return Readiness(head_revision(), store.count_alive(backend.reader, stale_after_s))


def list_agents(backend: Backend, stale_after_s: float, *, limit: int = 100) -> list[store.Agent]:
    """Agents, alive ones first, then the most recent; each with the trials it runs now."""
    store.require_current(backend.reader)
    return store.list_agents(backend.reader, stale_after_s, limit=limit)
