"""Agents' rows: alive while they beat, stopped when they say goodbye, lost when silent; and
search ids that are never reused (agents cache a search by its id)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.store.migrate import ensure_current
from lrsearch.store.models import agents


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = store.make_engine(db_url)
    ensure_current(engine)
    yield engine
    engine.dispose()


def _states(engine: sa.Engine, stale_after_s: float) -> dict[str, str]:
    return {a.name: a.state for a in store.list_agents(engine, stale_after_s)}


def _age(engine: sa.Engine, agent_id: int, seconds: float) -> None:
    """Move an agent's heartbeat into the past, as a silent agent's would be."""
    with store.transaction(engine) as conn:
        moment = conn.execute(sa.select(agents.c.heartbeat_at).where(agents.c.id == agent_id))
        then = moment.scalar_one()
        conn.execute(
            agents.update()
            .where(agents.c.id == agent_id)
            .values(heartbeat_at=then - timedelta(seconds=seconds))
        )


def test_agents_are_alive_stopped_or_lost(engine: sa.Engine) -> None:
    a = store.register_agent(engine, "host-a:1")
    b = store.register_agent(engine, "host-b:2")
    c = store.register_agent(engine, "host-c:3")
    assert store.count_alive(engine, stale_after_s=30) == 3
    store.stop_agent(engine, b)
    _age(engine, c, 120)  # SIGKILLed two minutes ago: no goodbye, no heartbeat since
    assert _states(engine, 30) == {"host-a:1": "alive", "host-b:2": "stopped", "host-c:3": "lost"}
    assert store.count_alive(engine, stale_after_s=30) == 1
    _age(engine, a, 120)
    store.heartbeat(engine, [], agent_id=a)  # its heartbeat thread beats again
    assert store.count_alive(engine, stale_after_s=30) == 1
    store.heartbeat(engine, [], agent_id=b)  # a stopped agent's late beat does not revive it
    assert _states(engine, 30)["host-b:2"] == "stopped"


def test_an_agent_counts_the_trials_it_runs(engine: sa.Engine) -> None:
    store.create_search(
        engine,
        name="s",
        spec={"name": "s"},
        task="digits-mlp",
        metric="val_accuracy",
        direction="maximize",
        trial_budget=3,
    )
    store.register_agent(engine, "host-a:1")
    store.register_agent(engine, "host-b:2")
    first = store.claim_trial(engine, "s", "host-a:1")
    store.claim_trial(engine, "s", "host-a:1")
    assert first is not None
    running = {a.name: a.running for a in store.list_agents(engine, 30)}
    assert running == {"host-a:1": 2, "host-b:2": 0}
    store.release_trial(engine, first)
    assert {a.name: a.running for a in store.list_agents(engine, 30)}["host-a:1"] == 1


def test_agents_gone_for_a_day_are_forgotten(engine: sa.Engine) -> None:
    old = store.register_agent(engine, "host-a:1")
    _age(engine, old, 2 * 86_400)
    store.register_agent(engine, "host-b:2")
    assert set(_states(engine, 30)) == {"host-b:2"}


def test_a_deleted_search_id_is_never_reused(engine: sa.Engine) -> None:
    def create(name: str) -> int:
        store.create_search(
            engine,
            name=name,
            spec={"name": name},
            task="digits-mlp",
            metric="val_accuracy",
            direction="maximize",
            trial_budget=1,
        )
        return store.get_search(engine, name).id

    first = create("a")
    store.delete_search(engine, "a")
    time.sleep(0.01)
    assert create("a") > first
