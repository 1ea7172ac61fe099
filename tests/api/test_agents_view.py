"""/ready and GET /v1/agents count the real agents: alive while they run, stopped after a
clean exit, lost after a SIGKILL (silent for the stale window)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from apiutil import make_client

from lrsearch.search.local import prepare_search
from lrsearch.spec import parse_spec

STALE_S = 1.5


def _agent(url: str, cwd: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LRSEARCH_HEARTBEAT_S": "0.2",
        "LRSEARCH_STALE_AFTER_S": str(STALE_S),
    }
    command = [sys.executable, "-m", "lrsearch", "worker", "--wait", "--storage", url]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_ready_and_agents_follow_the_agents(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lrsearch.db'}"
    prepare_search(url, parse_spec({"name": "idle", "task": "digits-mlp", "budget": {"trials": 1}}))
    kept, killed = _agent(url, tmp_path), _agent(url, tmp_path)
    try:
        with make_client(url, stale_after_s=STALE_S) as client:

            def alive() -> int:
                return int(client.get("/ready").json()["agents_alive"])

            def states() -> dict[str, str]:
                body = client.get("/v1/agents").json()
                return {a["name"].rsplit(":", 1)[1]: a["state"] for a in body["data"]}

            _until(lambda: alive() == 2, "two agents alive")
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
            _until(lambda: alive() == 1, "the killed agent to count as lost")
            assert states()[str(killed.pid)] == "lost"
            kept.send_signal(signal.SIGTERM)
            assert kept.wait(timeout=60) == 0
            assert states() == {str(kept.pid): "stopped", str(killed.pid): "lost"}
            assert alive() == 0 and client.get("/v1/agents").json()["alive"] == 0
    finally:
        for proc in (kept, killed):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
