"""Agents as real processes on real PostgreSQL: an exact budget, SIGKILL, a server restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from searchutil import read_search, read_trials, spec_toml

from lrsearch import store
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.slow

FAST_RECOVERY = {"LRSEARCH_HEARTBEAT_S": "0.5", "LRSEARCH_STALE_AFTER_S": "3"}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lrsearch", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _agent(url: str, name: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lrsearch",
            "worker",
            "--study",
            name,
            "--storage",
            url,
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def _submit(
    tmp_path: Path, url: str, name: str, trials: int, epochs: int, *, baselines: bool = False
) -> None:
    spec = tmp_path / f"{name}.toml"
    families = ("constant", "cosine", "linear")
    spec.write_text(spec_toml(name, trials, epochs, seed=5, families=families, baselines=baselines))
    result = _cli("submit", str(spec), "--storage", url)
    assert result.returncode == 0, result.stderr
    assert f"{name}: queued" in result.stdout


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # the database may be restarting: keep polling
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _finish(agents: list[subprocess.Popen[str]], timeout: float = 300) -> list[str]:
    outputs = []
    for agent in agents:
        out, _ = agent.communicate(timeout=timeout)
        assert agent.returncode == 0, out
        assert "Traceback" not in out, out
        outputs.append(out)
    return outputs


def test_four_agents_finish_exactly_the_budget(pg_url: str, tmp_path: Path) -> None:
    """20 searched trials, then the 7 baselines on slots of their own, each exactly once."""
    _submit(tmp_path, pg_url, "four", trials=20, epochs=3, baselines=True)
    outputs = _finish([_agent(pg_url, "four") for _ in range(4)])
    trials = read_trials(pg_url, "four")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 27
    assert all("baseline" not in t.user_attrs for t in trials[:20])  # the budget is all search
    assert len({t.user_attrs["baseline"] for t in trials[20:]}) == 7
    search = read_search(pg_url, "four")
    assert (search.n_complete, search.trials_claimed, search.status) == (27, 27, "done")
    assert (search.trial_budget, search.baseline_trials) == (27, 7)
    done = [int(out.split("worker done: ")[1].split(" complete")[0]) for out in outputs]
    assert sum(done) == 27  # every trial ran once, somewhere


def _running_lease_of(url: str, pid: int) -> bool:
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM lr_trials WHERE status = 'running' AND worker LIKE :w"
                    ),
                    {"w": f"%:{pid}"},
                ).scalar()
            )
    finally:
        engine.dispose()


def test_a_killed_agents_trial_fails_and_runs_again(pg_url: str, tmp_path: Path) -> None:
    _submit(tmp_path, pg_url, "kill", trials=6, epochs=300)
    victim = _agent(pg_url, "kill", FAST_RECOVERY)
    _wait_for(lambda: _running_lease_of(pg_url, victim.pid), 120, "the victim's first trial")
    survivor = _agent(pg_url, "kill", FAST_RECOVERY)
    time.sleep(0.5)
    _wait_for(lambda: _running_lease_of(pg_url, victim.pid), 60, "the victim mid-trial")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    _finish([survivor])

    trials = read_trials(pg_url, "kill")
    lost = [t for t in trials if t.state.name == "FAIL"]
    assert len(lost) == 1 and lost[0].user_attrs["fail_reason"] == "worker lost"
    rerun = [t for t in trials if t.user_attrs.get("retry_of") == lost[0].number]
    assert len(rerun) == 1 and rerun[0].state.name == "COMPLETE"
    assert rerun[0].params == lost[0].params and rerun[0].user_attrs["attempt"] == 2
    assert sum(t.state.name == "COMPLETE" for t in trials) == 6  # the budget, nothing lost
    search = read_search(pg_url, "kill")
    assert (search.n_complete, search.n_retried, search.status) == (6, 1, "done")


def test_postgres_restarts_mid_search_cost_retries_not_trials(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """The server restarts each time a trial finishes, while the agents ask for the next one.

    That is the moment a write can commit and its reply be lost; Optuna's plain ``ask`` then
    left a RUNNING trial behind (see ask.py and test_ask.py).
    """
    url, restart = pg_cluster.url, pg_cluster.restart
    _submit(tmp_path, url, "restart", trials=14, epochs=60)
    agents = [_agent(url, "restart") for _ in range(2)]
    finished, restarts = 0, 0
    deadline = time.monotonic() + 240
    while restarts < 10 and finished < 13 and time.monotonic() < deadline:
        try:
            now = read_search(url, "restart").finished
        except Exception:  # restarting: keep polling
            now = finished
        if now > finished:
            finished = now
            restart()
            restarts += 1
        time.sleep(0.02)
    outputs = _finish(agents)
    assert restarts >= 6  # most trial boundaries saw a restart
    assert any("retrying" in out for out in outputs)  # the agents did see the restarts
    trials = read_trials(url, "restart")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 14
    search = read_search(url, "restart")
    assert (search.n_complete, search.n_failed, search.status) == (14, 0, "done")
