"""What the chaos scenarios share: a fleet of real agent processes, small specs, polling.

Every process a scenario starts is kept by PID and ended by PID in ``Fleet.close`` (a
``finally``), so a failing scenario leaves nothing running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa

from lrsearch import store
from lrsearch.search.local import prepare_search
from lrsearch.spec import parse_spec
from lrsearch.store.models import LEASE_ACTIVE, trials
from tests.chaos.invariants import AgentRun

# Beats every 0.5 s; a lease silent for 3 s is reaped.
FAST_RECOVERY = {"LRSEARCH_HEARTBEAT_S": "0.5", "LRSEARCH_STALE_AFTER_S": "3"}


def small_spec(
    name: str,
    *,
    trials: int,
    epochs: int,
    pruner: str = "none",
    seed: int = 7,
    confirm: Mapping[str, int] | bool = False,
) -> dict[str, Any]:
    """A tiny digits-mlp search (hidden 16) whose trials never diverge; baselines after (and
    confirmations, with ``confirm``)."""
    return {
        "name": name,
        "task": "digits-mlp",
        "task_options": {"hidden": 16},
        "budget": {"trials": trials, "epochs": epochs},
        "search": {
            "sampler": "random",
            "seed": seed,
            "pruner": pruner,
            "startup_trials": 3,
            "confirm": confirm if isinstance(confirm, bool) else dict(confirm),
        },
        "space": {
            "families": ["constant", "cosine", "linear"],
            "lr": [0.01, 0.2],
            "optimizers": ["sgd"],
            "warmup": [0.0, 0.0],
        },
    }


def submit(url: str, spec: Mapping[str, Any]) -> store.Search:
    """Create the search as ``lrsearch submit`` does (in this process: no second start-up)."""
    store.upgrade(url)
    return prepare_search(url, parse_spec(dict(spec)))


class Watch:
    """One engine and one Optuna storage on the scenario's database, for polling it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = store.make_engine(url)
        self.storage = store.make_optuna_storage(url)

    def close(self) -> None:
        self.engine.dispose()
        self.storage.engine.dispose()

    def search(self, name: str) -> store.Search:
        return store.get_search(self.engine, name)

    def trials(self, name: str) -> list[optuna.trial.FrozenTrial]:
        study = optuna.load_study(study_name=name, storage=self.storage)
        return study.get_trials(deepcopy=False)

    def leases(self, statuses: tuple[str, ...] = LEASE_ACTIVE) -> list[tuple[int, int, int | None]]:
        """(lease id, agent PID, trial number) of the leases in ``statuses``."""
        query = sa.select(trials.c.id, trials.c.worker, trials.c.trial_number).where(
            trials.c.status.in_(statuses)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [(int(i), int(w.rpartition(":")[2]), n) for i, w, n in rows]

    def lease(self, lease_id: int) -> tuple[str, int | None, str]:
        """(status, trial number, worker) of one lease row."""
        query = sa.select(trials.c.status, trials.c.trial_number, trials.c.worker).where(
            trials.c.id == lease_id
        )
        with self.engine.connect() as conn:
            status, number, worker = conn.execute(query).one()
        return str(status), number, str(worker)

    def sessions_in_a_transaction(self) -> int:
        """Other sessions on this database inside a transaction: idle in one, waiting for their
        client, or still running a statement of one (``xact_start`` set either way).

        A stopped agent's session in a transaction keeps its row locks for as long as it is
        stopped (lrsearch sets no idle-in-transaction timeout). Counting only the idle ones
        missed a session caught mid-statement: it went idle in its transaction a moment later,
        frozen, and the other agent waited on its locks for good.
        """
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def wait_for(check: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.2) -> None:
    """Poll ``check`` until it is true; errors count as not yet (the database may be down)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Fleet:
    """``lrsearch worker`` processes on one storage URL, each logging to its own file."""

    url: str
    logs: Path
    study: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    agents: list[Agent] = field(default_factory=list)

    def start(self) -> Agent:
        command = [sys.executable, "-m", "lrsearch", "worker", "--storage", self.url]
        command += ["--threads", "1"] + (["--study", self.study] if self.study else [])
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"agent-{len(self.agents)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        agent = Agent(proc, log)
        self.agents.append(agent)
        return agent

    def alive(self) -> list[Agent]:
        return [a for a in self.agents if a.alive()]

    def kill(self, agent: Agent) -> None:
        """SIGKILL, as a host or the OOM killer would."""
        agent.killed = True
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait(timeout=30)

    def wait(self, timeout: float) -> list[AgentRun]:
        """Wait until every agent has exited (they exit when nothing is left)."""
        deadline = time.monotonic() + timeout
        for agent in self.agents:
            left = max(1.0, deadline - time.monotonic())
            try:
                agent.proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                tail = agent.output()[-3000:]
                raise AssertionError(
                    f"agent {agent.pid} still running after {timeout:g} s:\n{tail}"
                ) from None
        return self.runs()

    def runs(self) -> list[AgentRun]:
        return [AgentRun(a.pid, a.proc.returncode, a.output(), a.killed) for a in self.agents]

    def close(self) -> None:
        """End every agent still running (by PID), as a last resort."""
        for agent in self.agents:
            if agent.alive():
                agent.proc.kill()
                agent.proc.wait(timeout=30)


@contextmanager
def fleet(url: str, logs: Path, **options: Any) -> Iterator[Fleet]:
    made = Fleet(url, logs, **options)
    try:
        yield made
    finally:
        made.close()


def describe(url: str, name: str) -> str:
    """The search's lease rows and Optuna trials as text, for a failed scenario's log."""
    watch = Watch(url)
    try:
        with watch.engine.connect() as conn:
            leases = conn.execute(
                sa.text(
                    "SELECT t.id, t.worker, t.status, t.trial_number, t.optuna_trial_id, "
                    "t.attempt, t.reason, t.claimed_at, t.heartbeat_at, t.finished_at "
                    "FROM lr_trials t JOIN lr_searches s ON s.id = t.search_id "
                    "WHERE s.name = :n ORDER BY t.id"
                ),
                {"n": name},
            ).all()
        lines = ["leases:"] + [" | ".join(str(v) for v in row) for row in leases]
        lines.append("trials:")
        for t in watch.trials(name):
            attrs = {k: t.user_attrs.get(k) for k in ("retry_of", "attempt", "fail_reason")}
            lines.append(
                f"{t.number} id={t._trial_id} {t.state.name} {attrs} "
                f"start={t.datetime_start} end={t.datetime_complete} params={t.params}"
            )
        return "\n".join(lines)
    finally:
        watch.close()
