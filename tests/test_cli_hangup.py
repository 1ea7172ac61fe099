"""A closed terminal (SIGHUP) stops `lrsearch search` and `lrsearch serve --workers N` as Ctrl-C
does: the agents get SIGTERM, release their running trials and exit; nothing is left RUNNING and
no agent outlives its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.procutil import free_port, start_lrsearch
from tests.search.searchutil import read_search, read_trials, spec_toml

pytestmark = pytest.mark.slow

TOKEN = "hangup-token-0123456789abcdef"


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return start_lrsearch(args, cwd, env={"LRSEARCH_API_TOKEN": TOKEN})


def _wait_running(url: str, name: str, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.3)
        try:
            if read_search(url, name).running >= 1:
                return
        except Exception:  # the database is not there yet
            continue
    raise AssertionError(f"no trial of {name} started")


def _agents_of(db: Path) -> list[str]:
    """Processes (the agents) whose command line names this database file."""
    found = subprocess.run(["pgrep", "-f", str(db)], capture_output=True, text=True)
    return found.stdout.split()


def _stop(proc: subprocess.Popen[str], db: Path) -> list[str]:
    """Wait a little for the agents to go; record and kill those that outlived the parent."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while _agents_of(db) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = _agents_of(db)
    for pid in leftover:  # never leave them training after a failed test
        os.kill(int(pid), signal.SIGKILL)
    return leftover


def _assert_all_released(url: str, name: str, orphans: list[str]) -> None:
    assert orphans == [], "an agent outlived its parent"
    assert "RUNNING" not in [t.state.name for t in read_trials(url, name)]
    assert read_search(url, name).running == 0


def test_sighup_stops_the_search_job_and_its_workers(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(spec_toml("hup", trials=6, epochs=250))
    db = tmp_path / "hup.db"
    url = f"sqlite:///{db}"
    proc = _start(
        ["search", "spec.toml", "--workers", "2", "--threads", "1", "--storage", url], tmp_path
    )
    try:
        _wait_running(url, "hup", proc)
        proc.send_signal(signal.SIGHUP)  # what closing the terminal sends
        output, _ = proc.communicate(timeout=120)
    finally:
        orphans = _stop(proc, db)
    assert proc.returncode == 130, output
    assert "run the same command to resume" in output and "Traceback" not in output
    _assert_all_released(url, "hup", orphans)


def test_sighup_stops_serve_and_its_agents(tmp_path: Path) -> None:
    db, port = tmp_path / "served.db", free_port()
    url = f"sqlite:///{db}"
    args = ["serve", "--storage", url, "--port", str(port), "--workers", "1", "--threads", "1"]
    proc = _start([*args, "--log-dir", str(tmp_path / "logs")], tmp_path)
    base = f"http://127.0.0.1:{port}"
    spec = {
        "name": "served",
        "task": "digits-mlp",
        "task_options": {"hidden": 32},
        "budget": {"trials": 4, "epochs": 250},
        "search": {"sampler": "random", "seed": 0, "pruner": "none"},
        "space": {"families": ["constant"], "lr": [0.01, 0.1], "optimizers": ["sgd"]},
        "baselines": False,
    }
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{base}/v1/studies", json=spec, headers=auth).status_code == 201
        _wait_running(url, "served", proc)
        proc.send_signal(signal.SIGHUP)
        output, _ = proc.communicate(timeout=120)
    finally:
        orphans = _stop(proc, db)
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    _assert_all_released(url, "served", orphans)
