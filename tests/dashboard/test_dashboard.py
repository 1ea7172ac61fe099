"""`lrsearch dashboard` as a real process on a finished search, read over HTTP and in Chromium.

A small digits search (a random search over four families with the median pruner, then the
baselines) is run to the end in a SQLite file. The dashboard started on it must list the
study, serve trials that read well (``family``, ``lr``, ``optimizer``, ``<family>.<param>``,
one intermediate value per epoch, the ScheduleSpec as the ``schedule`` user attribute) and
render the study in headless Chromium. The screenshots are also saved under ``out/`` in the
repository root (git-ignored) for people to look at.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from matplotlib import image as mpimg

from lrsearch.schedules import ScheduleSpec
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec
from tests.procutil import as_in_a_terminal, free_port

pytestmark = pytest.mark.slow

STUDY = "dashboard-demo"
FAMILIES = ["constant", "cosine", "step", "one_cycle"]
EPOCHS = 4
TRIALS = 16  # 9 searched, then the 7 baselines (no Optuna params)
SPEC: dict[str, Any] = {
    "name": STUDY,
    "task": "digits-mlp",
    "task_options": {"hidden": 16},
    "budget": {"trials": TRIALS - 7, "epochs": EPOCHS},
    # With this seed the searched trials cover every family and the pruner prunes some.
    "search": {"sampler": "random", "seed": 3, "pruner": "median", "startup_trials": 2},
    "space": {
        "families": FAMILIES,
        "lr": [0.005, 0.5],
        "optimizers": ["sgd", "adam"],
        "warmup": [0.0, 0.1],
    },
}
COMMON_PARAMS = {"family", "lr", "optimizer", "warmup_fraction"}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--window-size=1600,1000",
    "--hide-scrollbars",
    # Lets the single-page app fetch the study and draw its plots before the capture.
    "--virtual-time-budget=15000",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "out"


@dataclass(frozen=True)
class Dashboard:
    """A running ``lrsearch dashboard`` process and where to reach it."""

    base: str
    proc: subprocess.Popen[bytes]
    log: Path


def _start_dashboard(url: str, workdir: Path, timeout_s: float = 60.0) -> Dashboard:
    """Start ``python -m lrsearch dashboard`` on ``url``; return once its API answers."""
    port = free_port()
    log = workdir / f"dashboard-{port}.log"
    command = [sys.executable, "-m", "lrsearch", "dashboard", "--storage", url]
    command += ["--port", str(port)]
    with log.open("wb") as sink:  # a file, not a pipe: the server logs every request
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=as_in_a_terminal,
        )
    dashboard = Dashboard(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"lrsearch dashboard exited {proc.returncode}: {_log(dashboard)}")
        try:
            if httpx.get(f"{dashboard.base}/api/meta", timeout=2).status_code == 200:
                return dashboard
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    _stop(proc)
    raise AssertionError(f"lrsearch dashboard did not answer: {_log(dashboard)}")


def _log(dashboard: Dashboard) -> str:
    """The tail of the dashboard's output (its request log and any traceback)."""
    return dashboard.log.read_text(errors="replace")[-4000:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process if it still runs, and reap it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def finished_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database holding the finished search ``dashboard-demo``."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'lrsearch.db'}"
    prepare_search(url, parse_spec(SPEC))
    summary = run_worker(url, STUDY, threads=1)
    assert summary.complete + summary.pruned == TRIALS, summary
    return url


@pytest.fixture(scope="module")
def dashboard(finished_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """``lrsearch dashboard`` on the finished search, stopped with SIGTERM afterwards."""
    running = _start_dashboard(finished_url, tmp_path_factory.mktemp("dashboard-run"))
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.send_signal(signal.SIGTERM)
            try:
                running.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _stop(running.proc)


def _get(dashboard: Dashboard, path: str) -> Any:
    """GET a JSON API path of the dashboard, asserting a 200."""
    response = httpx.get(f"{dashboard.base}{path}", timeout=30)
    assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def study_id(dashboard: Dashboard) -> int:
    """The dashboard's id for ``dashboard-demo``."""
    summaries = _get(dashboard, "/api/studies")["study_summaries"]
    ids = [s["study_id"] for s in summaries if s["study_name"] == STUDY]
    assert len(ids) == 1, summaries
    return int(ids[0])


@pytest.fixture(scope="module")
def detail(dashboard: Dashboard, study_id: int) -> dict[str, Any]:
    """The study as the dashboard's pages get it: ``GET /api/studies/<id>?after=0``."""
    return dict(_get(dashboard, f"/api/studies/{study_id}?after=0"))


def _attrs(serialized: list[dict[str, str]]) -> dict[str, str]:
    """The dashboard's user attributes (key/value strings, JSON for non-scalars) as a dict."""
    return {a["key"]: a["value"] for a in serialized}


def _params(trial: dict[str, Any]) -> dict[str, str]:
    """A serialized trial's Optuna params, name -> value as the dashboard shows it."""
    return {p["name"]: p["param_external_value"] for p in trial["params"]}


def test_studies_api_lists_the_search(dashboard: Dashboard, study_id: int) -> None:
    """GET /api/studies lists the search by name, with its direction and lrsearch spec."""
    summaries = _get(dashboard, "/api/studies")["study_summaries"]
    (study,) = [s for s in summaries if s["study_id"] == study_id]
    assert study["study_name"] == STUDY
    assert study["directions"] == ["maximize"]  # digits-mlp's default metric is accuracy
    spec = json.loads(_attrs(study["user_attrs"])["lrsearch_spec"])
    assert spec["name"] == STUDY
    assert spec["space"]["families"] == FAMILIES


def test_study_api_names_the_objective(detail: dict[str, Any]) -> None:
    """The plots' value axis says the metric (val_accuracy), not "Objective 0"."""
    assert detail["objective_names"] == ["val_accuracy"]


def test_a_port_in_use_is_one_line(finished_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "lrsearch", "dashboard", "--storage", finished_url]
        result = subprocess.run(
            [*command, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"lrsearch: error: --port: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_study_api_has_readable_params(detail: dict[str, Any]) -> None:
    """``family``, ``lr``, ``optimizer``, and ``<family>.<param>`` only on that family's trials."""
    assert detail["name"] == STUDY
    assert len(detail["trials"]) == TRIALS
    assert {t["state"] for t in detail["trials"]} <= {"Complete", "Pruned"}
    space = {s["name"]: s["distribution"] for s in detail["union_search_space"]}
    assert COMMON_PARAMS | {"cosine.final_ratio"} <= set(space)
    # optuna-dashboard merges the choices of all trials through a set: their order varies.
    assert sorted(c["value"] for c in space["family"]["choices"]) == sorted(FAMILIES)
    assert (space["lr"]["low"], space["lr"]["high"], space["lr"]["log"]) == (0.005, 0.5, True)

    searched = [t for t in detail["trials"] if t["params"]]
    assert {_params(t)["family"] for t in searched} == set(FAMILIES)
    for trial in searched:
        params = _params(trial)
        family = params["family"]
        own = {name for name in params if name not in COMMON_PARAMS}
        assert all(name.startswith(f"{family}.") for name in own), (trial["number"], params)
        assert {"family", "lr", "optimizer"} <= set(params)


def test_study_api_has_intermediate_values_per_epoch(detail: dict[str, Any]) -> None:
    """One intermediate value per epoch (steps 0..epochs-1); pruned trials stop early."""
    assert detail["has_intermediate_values"] is True
    states = {"Complete": 0, "Pruned": 0}
    for trial in detail["trials"]:
        steps = [v["step"] for v in trial["intermediate_values"]]
        states[trial["state"]] += 1
        if trial["state"] == "Complete":
            assert steps == list(range(EPOCHS)), trial["number"]
            assert trial["values"] == [trial["intermediate_values"][-1]["value"]]
        else:
            assert steps == list(range(len(steps))) and 1 <= len(steps) < EPOCHS
    assert states["Pruned"] > 0, "the median pruner pruned nothing: the demo shows no pruning"


def test_study_api_has_the_schedule_as_user_attr(detail: dict[str, Any]) -> None:
    """Every trial carries its ScheduleSpec as ``schedule``, and it agrees with the params."""
    keys = {a["key"] for a in detail["union_user_attrs"]}
    assert "schedule" in keys
    for trial in detail["trials"]:
        attrs = _attrs(trial["user_attrs"])
        schedule = ScheduleSpec.from_dict(json.loads(attrs["schedule"]), complete=True)
        params = _params(trial)
        if params:  # a searched trial: its ScheduleSpec is what the params say
            assert schedule.family == params["family"]
            assert schedule.lr == pytest.approx(float(params["lr"]))
            assert schedule.warmup_fraction == pytest.approx(
                float(params.get("warmup_fraction", 0.0))
            )
            for name, value in params.items():
                field = name.removeprefix(f"{schedule.family}.")
                if field != name and field in schedule.params:  # not a chain like ``_0``
                    assert str(schedule.params[field]) == value, (trial["number"], name)
        else:  # a baseline: no params (outside the space), named by its family
            assert attrs["baseline"] == schedule.family


def test_param_importances_rank_the_family(dashboard: Dashboard, study_id: int) -> None:
    """The importance plot's API ranks the family, the LR and the optimizer."""
    importances = _get(dashboard, f"/api/studies/{study_id}/param_importances")
    (objective,) = importances["param_importances"]
    names = {entry["name"] for entry in objective}
    assert {"family", "lr", "optimizer"} <= names


def _chromium(chromium: Path, url: str, *extra: str, profile: Path) -> str:
    """Run headless Chromium on ``url`` with ``extra`` flags; returns its stdout."""
    command = [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, f"{command}: exited {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


def _best_trial(detail: dict[str, Any]) -> int:
    """The number of the study's best trial."""
    (best,) = detail["best_trials"]
    return int(best["number"])


PAGES = [
    # (screenshot name, page under /dashboard/studies/<id>, texts the rendered DOM must hold)
    ("dashboard.png", "", ["History", "Hyperparameter Importance", "Timeline"]),
    ("dashboard-analytics.png", "/analytics", ["Hyperparameter Relationships", "Slice"]),
    ("dashboard-trial.png", "/trials?numbers={best}", ["Intermediate Values", "schedule"]),
]


@pytest.mark.parametrize(("png", "page", "texts"), PAGES, ids=[p[0] for p in PAGES])
def test_study_page_renders_in_chromium(
    chromium: Path,
    dashboard: Dashboard,
    study_id: int,
    detail: dict[str, Any],
    tmp_path: Path,
    png: str,
    page: str,
    texts: list[str],
) -> None:
    """The page renders the study in headless Chromium; its screenshot goes to ``out/``."""
    url = f"{dashboard.base}/dashboard/studies/{study_id}{page.format(best=_best_trial(detail))}"
    profile = tmp_path / "profile"

    dom = _chromium(chromium, url, "--dump-dom", profile=profile)
    # The served HTML is an empty shell: the name is only there once the app drew the study.
    assert f"{STUDY} (id={study_id})" in dom, dom[-3000:]
    for text in texts:
        assert text in dom, f"{text!r} not rendered on {url}"

    shot = tmp_path / png
    _chromium(chromium, url, f"--screenshot={shot}", profile=profile)
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape == (1000, 1600, 3)
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 600, f"{shot} looks blank: {len(colours)} colours"  # blank page: ~330
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / png).write_bytes(shot.read_bytes())


def _wait_idle(dashboard: Dashboard, path: str, timeout_s: float = 10.0) -> None:
    """Wait until the server has logged the request for ``path``: it is back to waiting.

    A signal that lands while wsgiref is still inside a request is swallowed there (see
    ``test_signal_during_a_request_stops_it``), so the idle case is tested on its own.
    """
    deadline = time.monotonic() + timeout_s
    while f'"GET {path} HTTP/1.1" 200' not in _log(dashboard):
        assert time.monotonic() < deadline, _log(dashboard)
        time.sleep(0.05)
    time.sleep(0.3)


SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)


@SIGNALS
def test_dashboard_stops_on_signal(
    finished_url: str, tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C, or SIGTERM (docker stop), stops an idle dashboard with exit 0 and frees the port."""
    running = _start_dashboard(finished_url, tmp_path)
    try:
        assert _get(running, "/api/studies")["study_summaries"]
        _wait_idle(running, "/api/studies")
        running.proc.send_signal(signum)
        assert running.proc.wait(timeout=15) == 0, _log(running)
    finally:
        _stop(running.proc)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.base}/api/meta", timeout=2)


@SIGNALS
def test_signal_during_a_request_stops_it(
    finished_url: str, tmp_path: Path, signum: signal.Signals
) -> None:
    """A signal while a response is still being sent (a slow client) stops the dashboard too."""
    running = _start_dashboard(finished_url, tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", int(running.base.rsplit(":", 1)[1]))) as slow:
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            # The 6 MB bundle, never read: the server blocks in sendall inside the request.
            request = (
                "GET /static/bundle.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"
            )
            slow.sendall(request.encode())
            time.sleep(1.0)
            running.proc.send_signal(signum)
            time.sleep(0.5)
        try:
            returncode = running.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            answer = httpx.get(f"{running.base}/api/meta", timeout=2).status_code
            raise AssertionError(
                f"{signum.name} was swallowed: still serving (GET /api/meta -> {answer})\n"
                + _log(running)
            ) from None
        assert returncode == 0, _log(running)
    finally:
        _stop(running.proc)


def test_report_renders_offline_in_chromium(
    chromium: Path, finished_url: str, tmp_path: Path
) -> None:
    """`lrsearch report` opens in Chromium with every host unresolvable: plots and baselines.

    Its screenshot goes to ``out/report.png``.
    """
    page = tmp_path / "report.html"
    command = [sys.executable, "-m", "lrsearch", "report", STUDY, "--storage", finished_url]
    done = subprocess.run([*command, "-o", str(page)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    offline = "--host-resolver-rules=MAP * ~NOTFOUND"  # any fetch from the network would fail
    url = page.as_uri()
    profile = tmp_path / "profile"
    dom = _chromium(chromium, url, offline, "--dump-dom", profile=profile)
    assert dom.count("<svg") == 3
    assert "Baselines: the classic schedules vs the tuned best" in dom
    assert all(f"<td>{family}</td>" in dom for family in ("constant", "step", "cosine"))
    shot = tmp_path / "report.png"
    _chromium(
        chromium, url, offline, f"--screenshot={shot}", "--window-size=1200,3600", profile=profile
    )
    pixels = mpimg.imread(shot)[..., :3]
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 600, f"{shot} looks blank: {len(colours)} colours"
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "report.png").write_bytes(shot.read_bytes())
