"""Each trial's LR curve on its optuna-dashboard page: uploaded by the agent with Optuna's
artifact API, served by `lrsearch dashboard` from the same artifact store, shown in headless
Chromium beside the trial's note (family, peak LR, optimizer); the study's note says which
plots to read. The trial page's screenshot is saved under ``out/dashboard-artifacts.png``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from matplotlib import image as mpimg

from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec
from tests.procutil import as_in_a_terminal, free_port

pytestmark = pytest.mark.slow

STUDY = "artifacts-demo"
SPEC: dict[str, Any] = {
    "name": STUDY,
    "task": "digits-mlp",
    "task_options": {"hidden": 16},
    "budget": {"trials": 2, "epochs": 2},  # 2 searched trials, then the 7 baselines
    "search": {"sampler": "random", "seed": 1, "pruner": "none"},
    "space": {"families": ["step", "cosine"], "lr": [0.01, 0.3], "optimizers": ["sgd", "adam"]},
}
OUT_DIR = Path(__file__).resolve().parents[2] / "out"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the finished search; its artifact store beside it, as by default."""
    folder = tmp_path_factory.mktemp("artifacts")
    url = f"sqlite:///{folder / 'lrsearch.db'}"
    prepare_search(url, parse_spec(SPEC))
    assert run_worker(url, STUDY, threads=1).complete == 9
    return folder


@pytest.fixture(scope="module")
def base(folder: Path) -> Iterator[str]:
    """`lrsearch dashboard` on it, stopped with SIGTERM afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "lrsearch", "dashboard", "--port", str(port)]
    command += ["--storage", f"sqlite:///{folder / 'lrsearch.db'}"]
    with (folder / "dashboard.log").open("wb") as sink:
        proc = subprocess.Popen(
            command, cwd=folder, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=as_in_a_terminal
        )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{address}/api/meta", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield address
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _study(base: str) -> dict[str, Any]:
    (summary,) = httpx.get(f"{base}/api/studies", timeout=30).json()["study_summaries"]
    detail: dict[str, Any] = httpx.get(
        f"{base}/api/studies/{summary['study_id']}?after=0", timeout=30
    ).json()
    detail["study_id"] = summary["study_id"]
    return detail


def test_every_trial_has_its_curve_and_note(base: str, folder: Path) -> None:
    study = _study(base)
    assert len(study["trials"]) == 9
    for trial in study["trials"]:
        (artifact,) = trial["artifacts"]
        assert artifact["filename"] == f"lr-curve-trial-{trial['number']}.png"
        assert artifact["mimetype"] == "image/png"
        assert (folder / "lrsearch-artifacts" / artifact["artifact_id"]).is_file()
        url = f"{base}/artifacts/{study['study_id']}/{trial['trial_id']}/{artifact['artifact_id']}"
        served = httpx.get(url, timeout=30)
        assert served.status_code == 200 and served.content[:8] == b"\x89PNG\r\n\x1a\n"
        note = trial["note"]["body"]
        params = {p["name"]: p["param_external_value"] for p in trial["params"]}
        if params:  # a searched trial: its note says what its parameters say
            assert note.startswith(f"**{params['family']}**")
            assert f"- optimizer **{params['optimizer']}" in note
            assert f"- peak LR **{float(params['lr']):g}**" in note
        else:
            assert note.startswith("**Baseline: ")
        assert "- complete, val_accuracy = " in note and "(over " in note


def test_the_study_note_says_which_plots_to_read(base: str) -> None:
    note = _study(base)["note"]["body"]
    assert "### Reading the plots" in note
    assert "conditional parameter" in note and "Hyperparameter Importance" in note


def test_the_trial_page_shows_the_curve_in_chromium(
    base: str, chromium: Path, tmp_path: Path
) -> None:
    study = _study(base)
    searched = next(t for t in study["trials"] if t["params"])
    url = f"{base}/dashboard/studies/{study['study_id']}/trials?numbers={searched['number']}"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1600,1400",
        "--virtual-time-budget=15000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]

    def chromium_(*extra: str) -> str:
        done = subprocess.run(
            [str(chromium), *flags, *extra, url],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env={**os.environ},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    dom = chromium_("--dump-dom")
    assert "Artifacts" in dom and f"lr-curve-trial-{searched['number']}.png" in dom
    assert f"/artifacts/{study['study_id']}/{searched['trial_id']}/" in dom  # the <img> source
    assert "peak LR" in dom and "optimizer" in dom
    shot = tmp_path / "dashboard-artifacts.png"
    chromium_(f"--screenshot={shot}")
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape == (1400, 1600, 3)
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 600
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / shot.name).write_bytes(shot.read_bytes())
