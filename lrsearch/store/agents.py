"""Agents: one row per `lrsearch worker` process, kept fresh by its heartbeat thread.

What the service shows as "agents alive" (``/ready``, ``GET /v1/agents``): an agent is alive
while its heartbeat is younger than the stale window by the database's clock (the same rule as
a lease's), stopped once it said goodbye, and lost when it went silent without one (SIGKILL, a
dead host). Rows of agents gone for a day are pruned when an agent registers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch.store.models import LEASE_ACTIVE, agents, trials
from lrsearch.store.rows import db_now, older_than, transaction, utc

AgentState = Literal["alive", "stopped", "lost"]
FORGET_AFTER_S = 86_400.0


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    state: AgentState
    started_at: datetime
    heartbeat_at: datetime
    running: int  # leases it holds now


def register_agent(engine: Engine, name: str) -> int:
    """A new agent row (the database clock starts it); returns its id."""
    with transaction(engine) as conn:
        now = db_now(conn)
        conn.execute(agents.delete().where(older_than(conn, agents.c.heartbeat_at, FORGET_AFTER_S)))
        return int(
            conn.execute(
                agents.insert()
                .values(name=name[:255], started_at=now, heartbeat_at=now)
                .returning(agents.c.id)
            ).scalar_one()
        )


def beat_agent(conn: sa.Connection, agent_id: int) -> None:
    """Refresh an agent's heartbeat, inside the caller's transaction (its leases' beat)."""
    conn.execute(
        agents.update()
        .where(agents.c.id == agent_id, agents.c.stopped_at.is_(None))
        .values(heartbeat_at=db_now(conn))
    )


def stop_agent(engine: Engine, agent_id: int) -> None:
    """The agent exits cleanly: it no longer counts as alive, nor as lost."""
    with transaction(engine) as conn:
        conn.execute(
            agents.update()
            .where(agents.c.id == agent_id, agents.c.stopped_at.is_(None))
            .values(stopped_at=db_now(conn))
        )


def list_agents(engine: Engine, stale_after_s: float, *, limit: int = 100) -> list[Agent]:
    """Agents, alive first then most recent, with the leases each holds now."""
    running = (
        sa.select(sa.func.count())
        .where(trials.c.worker == agents.c.name, trials.c.status.in_(LEASE_ACTIVE))
        .scalar_subquery()
    )
    with transaction(engine) as conn:
        silent = older_than(conn, agents.c.heartbeat_at, stale_after_s)
        state = sa.case(
            (agents.c.stopped_at.is_not(None), "stopped"), (silent, "lost"), else_="alive"
        )
        query = (
            sa.select(agents.c.id, agents.c.name, state, agents.c.started_at)
            .add_columns(agents.c.heartbeat_at, running)
            .order_by(sa.case((state == "alive", 0), else_=1), agents.c.id.desc())
            .limit(limit)
        )
        return [
            Agent(row[0], row[1], row[2], utc(row[3]), utc(row[4]), int(row[5]))
            for row in conn.execute(query)
        ]


def count_alive(engine: Engine, stale_after_s: float) -> int:
    """How many agents beat within the stale window and have not stopped."""
    with transaction(engine) as conn:
        query = (
            sa.select(sa.func.count())
            .select_from(agents)
            .where(
                agents.c.stopped_at.is_(None),
                sa.not_(older_than(conn, agents.c.heartbeat_at, stale_after_s)),
            )
        )
        return int(conn.execute(query).scalar_one())
