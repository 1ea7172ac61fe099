"""A poisoned study: `lrsearch serve --workers 2` takes a tabular study whose data file is gone
by the time the agents load it, then a good one. The bad one ends failed with its reason, the
good one completes, both agents live on, and the service answers and stops cleanly."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chaos.chaosutil import FAST_RECOVERY, small_spec, wait_for
from tests.chaos.invariants import AgentRun, check_invariants
from tests.procutil import free_port

pytestmark = pytest.mark.slow

CSV_ROWS = "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(60))
SECRET = "x1,x2,y\n" + CSV_ROWS  # what the reason must never quote


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def serve(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes], Path]]:
    """``lrsearch serve --workers 2`` on loopback; yields its base URL, token, process, logs."""
    token, port = secrets.token_hex(16), free_port()
    roots, logs = tmp_path / "data", tmp_path / "logs"
    roots.mkdir()
    command = [sys.executable, "-m", "lrsearch", "serve", "--storage", pg_url]
    command += ["--port", str(port), "--workers", "2", "--threads", "1", "--log-dir", str(logs)]
    env = {
        **os.environ,
        **FAST_RECOVERY,
        "LRSEARCH_API_TOKEN": token,
        "LRSEARCH_DATA_ROOTS": str(roots),
        "PYTHONUNBUFFERED": "1",
    }
    with (tmp_path / "serve.log").open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    children: list[int] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{base}/ready", timeout=2).status_code == 200, 120, "/ready")
        yield base, token, proc, logs
    finally:
        if proc.poll() is None:
            children = _children(proc.pid)
            proc.kill()
            proc.wait(timeout=30)
        for child in children:  # the agents, by PID, if the service could not stop them
            if _alive(child):
                os.kill(child, signal.SIGKILL)


def test_a_poisoned_study_fails_alone(
    serve: tuple[str, str, subprocess.Popen[bytes], Path], pg_url: str, tmp_path: Path
) -> None:
    base, token, proc, logs = serve
    auth = {"Authorization": f"Bearer {token}"}
    wait_for(lambda: len(_children(proc.pid)) == 2, 60, "the two agents")
    agents = _children(proc.pid)
    data = tmp_path / "data" / "table.csv"
    data.write_text(SECRET)
    bad = {
        "name": "poisoned",
        "task": "tabular",
        "task_options": {"path": str(data), "target": "y", "hidden": 16},
        "budget": {"trials": 4, "epochs": 3},
    }
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        # Hold the agents still from submission until the file is gone, so that none loads
        # it in between: the file exists when the study is accepted, never when it is loaded.
        for pid in agents:
            os.kill(pid, signal.SIGSTOP)
        try:
            created = client.post("/v1/studies", json=bad)
            data.unlink()
        finally:
            for pid in agents:
                os.kill(pid, signal.SIGCONT)
        assert created.status_code == 201, created.text
        good = client.post("/v1/studies", json=small_spec("good", trials=6, epochs=3))
        assert good.status_code == 201, good.text

        def status(name: str) -> str:
            return str(client.get(f"/v1/studies/{name}").json()["status"])

        wait_for(lambda: status("poisoned") == "failed", 120, "the poisoned study to fail")
        wait_for(lambda: status("good") == "done", 240, "the good study to finish")
        failed = client.get("/v1/studies/poisoned").json()
        assert failed["error"] and "cannot load the search" in failed["error"], failed
        assert "x1,x2" not in failed["error"]
        assert all(_alive(pid) for pid in agents), "an agent died"
        assert sorted(_children(proc.pid)) == sorted(agents)
        assert httpx.get(f"{base}/ready", timeout=5).status_code == 200

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=90) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert not any(_alive(pid) for pid in agents), "an agent outlived the service"
    runs = []
    for i, pid in enumerate(agents):
        output = (logs / f"worker-{i}.log").read_text(errors="replace")
        # Not our children: serve waited for them. An agent that returned from its loop
        # printed its summary last (an exception would have ended it before that line).
        ended = "worker done:" in output.strip().splitlines()[-1]
        runs.append(AgentRun(pid, 0 if ended else None, output))
    check_invariants(pg_url, runs, names=["poisoned", "good"])
