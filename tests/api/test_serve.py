"""`lrsearch serve --workers 1` as a real process: submit over HTTP, the agent runs the search,
the Python client reads the best schedule and builds a torch scheduler from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from apiutil import FINISHED_SPEC, TOKEN

from lrsearch.client import LRSearchClient
from lrsearch.errors import ConflictError, InvalidInputError, LRSearchError, NotFoundError
from lrsearch.schedules import curve
from tests.procutil import as_in_a_terminal, free_port

pytestmark = pytest.mark.slow


def _wait_until_up(base: str, proc: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"lrsearch serve exited: {proc.communicate()[0]}")
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("lrsearch serve did not become ready")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port, db = free_port(), tmp_path / "served.db"
    command = [sys.executable, "-m", "lrsearch", "serve", "--storage", f"sqlite:///{db}"]
    command += ["--port", str(port), "--workers", "1", "--threads", "1"]
    command += ["--log-dir", str(tmp_path / "logs")]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LRSEARCH_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"},
        preexec_fn=as_in_a_terminal,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc)
        yield base, proc, db
    finally:
        if proc.poll() is None:
            proc.terminate()  # serve stops its agents
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_agents_stop_when_serve_is_killed_outright(
    server: tuple[str, subprocess.Popen[str], Path],
) -> None:
    _, proc, _ = server
    agents = _children(proc.pid)
    assert len(agents) == 1, agents  # --workers 1
    proc.kill()  # no handler runs: the kernel tells the agent (SIGTERM), which stops cleanly
    proc.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{agents[0]}").exists():
        if Path(f"/proc/{agents[0]}/stat").read_text().split()[2] == "Z":
            break  # exited; a zombie until its (dead) parent's reaper collects it
        time.sleep(0.2)
    else:
        assert not Path(f"/proc/{agents[0]}").exists(), "the agent outlived lrsearch serve"


def _wait_done(client: LRSearchClient, name: str, timeout_s: float = 180.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        study = client.study(name)
        if study["status"] == "done":
            return study
        time.sleep(0.5)
    raise AssertionError(f"study {name} did not finish: {client.study(name)}")


def test_serve_with_agents_end_to_end(server: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, proc, db = server
    budget = {"trials": 3, "epochs": 2}
    spec = {**FINISHED_SPEC, "name": "served", "budget": budget, "baselines": False}
    with LRSearchClient(base, TOKEN) as client:
        created = client.submit(spec)
        assert created["status"] == "queued"
        done = _wait_done(client, "served")
        assert done["counts"]["complete"] + done["counts"]["pruned"] == 3  # type: ignore[index]

        best = client.best("served")
        assert best.trial_number == done["best_trial"]
        assert best.value == pytest.approx(done["best_value"])
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=1.0)
        scheduler = client.scheduler("served", optimizer, total_steps=50)
        seen = []
        for _ in range(50):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        assert seen == pytest.approx(curve(best.schedule, 50).tolist(), rel=1e-12)
        assert "def make_scheduler" in client.best_pytorch("served", steps=50)

        extended = client.extend("served", 1)  # the agent (--wait) runs the new trial
        assert (extended["status"], extended["trial_budget"]) == ("running", 4)
        assert _wait_done(client, "served")["trial_budget"] == 4
        assert client.retry_failed("served")["requeued"] == []
        with pytest.raises(InvalidInputError) as none_added:
            client.extend("served", 0)
        assert none_added.value.field == "trials"

        with pytest.raises(ConflictError, match="already exists"):
            client.submit(spec)
        with pytest.raises(InvalidInputError) as bad:
            client.submit({**spec, "name": "other", "budget": {"trials": 0}})
        assert bad.value.field == "budget.trials"
        with pytest.raises(NotFoundError, match="no study named 'nope'"):
            client.best("nope")
    with LRSearchClient(base) as anonymous, pytest.raises(LRSearchError, match="HTTP 401"):
        anonymous.stop("served")

    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "1 agents" in output
    leftover = subprocess.run(["pgrep", "-f", str(db)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "the agent outlived the service"


def test_client_reports_an_unreachable_server() -> None:
    client = LRSearchClient(f"http://127.0.0.1:{free_port()}")
    with client, pytest.raises(LRSearchError, match="cannot reach"):
        client.studies()
