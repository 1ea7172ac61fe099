"""`lrsearch trial NAME N` and the API's trial detail on real searches: a finished one, and one
whose model has a bug (its reason, traceback tail and log tail are shown); `--plot` draws the
trial's LR curve at its own step count above its validation curve."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import optuna
import pytest
from fastapi.testclient import TestClient

from lrsearch import store
from lrsearch.api import create_app
from lrsearch.cli import main
from lrsearch.config import Settings
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec

BUGGY_TASK = """
from torch import nn

from lrsearch.tasks.digits import digits_mlp


def make():
    task = digits_mlp(hidden=16)
    task.make_model = lambda: nn.Sequential(nn.Linear(63, 10))
    return task
"""


def _spec(name: str, task: str) -> dict[str, object]:
    return {
        "name": name,
        "task": task,
        "budget": {"trials": 2, "epochs": 3},
        "search": {"sampler": "random", "pruner": "none", "stop_after_failures": 0},
        "space": {"families": ["cosine"], "lr": [0.05, 0.1], "optimizers": ["sgd"]},
        "baselines": False,
    }


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database: `good` (2 complete trials) and `buggy` (2 failed), run by real agents."""
    folder = tmp_path_factory.mktemp("trial")
    (folder / "buggy_task_cli.py").write_text(BUGGY_TASK)
    url = f"sqlite:///{folder / 'trial.db'}"
    here = Path.cwd()
    os.chdir(folder)  # the task's module is found beside the spec, as a user's is
    try:
        for name, task in (("good", "digits-mlp"), ("buggy", "python:buggy_task_cli:make")):
            prepare_search(url, parse_spec(_spec(name, task)))
            run_worker(url, name, threads=1)
    finally:
        os.chdir(here)
    # A trial as a command runner leaves it: its output's last lines in the user attribute
    # `log_tail`, written while it runs (through Optuna's API, as the runner writes it).
    study = optuna.load_study(study_name="buggy", storage=store.make_optuna_storage(url))
    running = study.ask()
    running.set_user_attr("log_tail", "epoch 1\nboom")
    running.set_user_attr("fail_reason", "command exited with status 1")
    study.tell(running, state=optuna.trial.TrialState.FAIL)
    yield url


def _lrsearch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[object, str, str]:
    monkeypatch.setattr(sys, "argv", ["lrsearch", *args])
    monkeypatch.setenv("COLUMNS", "120")
    code: object = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_a_complete_trial_and_its_plot(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "t1.png"
    code, out, err = _lrsearch(
        monkeypatch, capsys, "trial", "good", "1", "--storage", url, "--plot", str(png)
    )
    assert code in (0, None), err
    study = optuna.load_study(study_name="good", storage=store.make_optuna_storage(url))
    trial = study.trials[1]
    assert "COMPLETE" in out and f"{trial.value:.6g}" in out and "cosine" in out
    steps = trial.user_attrs["config"] and max(
        row["step"] for row in _epochs(url, "good", 1)
    )  # a complete trial's last report is at its last step
    assert f"{steps:,}" in out and "train loss" in out
    image = matplotlib.image.imread(png)
    assert image.shape[:2] == (780, 1080)  # 9 x 6.5 inches at 120 dpi: two panels
    assert f"plot: {png}" in out


def _epochs(url: str, name: str, number: int) -> list[dict[str, object]]:
    engine = store.make_engine(url)
    try:
        return store.epochs_of(engine, name, number)
    finally:
        engine.dispose()


def test_a_failed_trial_shows_its_reason_traceback_and_log(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _lrsearch(monkeypatch, capsys, "trial", "buggy", "1", "--storage", url)
    assert code in (0, None), err
    assert "failed: error: RuntimeError: mat1 and mat2 shapes cannot be multiplied" in out
    assert "traceback" in out and "F.linear(input, self.weight, self.bias)" in out
    assert "log tail" not in out
    code, out, err = _lrsearch(monkeypatch, capsys, "trial", "buggy", "2", "--storage", url)
    assert "failed: command exited with status 1" in out
    assert "log tail" in out and "epoch 1\nboom" in out and "traceback" not in out
    code, _, err = _lrsearch(
        monkeypatch, capsys, "trial", "buggy", "1", "--storage", url, "--plot", "x.png"
    )
    assert (
        code == 2 and err == "lrsearch: error: --plot: trial 1 has no schedule or no report yet\n"
    )
    code, _, err = _lrsearch(monkeypatch, capsys, "trial", "buggy", "7", "--storage", url)
    assert code == 2 and err == "lrsearch: error: study 'buggy' has no trial 7\n"


def test_the_api_trial_detail_has_the_traceback_the_log_and_the_steps(url: str) -> None:
    settings = Settings(storage_url=url, dev=True)
    with TestClient(create_app(settings)) as client:
        failed = client.get("/v1/studies/buggy/trials/1").json()
        logged = client.get("/v1/studies/buggy/trials/2").json()
        done = client.get("/v1/studies/good/trials/0").json()
    assert failed["fail_reason"].startswith("error: RuntimeError: mat1 and mat2")
    assert failed["fail_traceback"].splitlines()[-1].startswith("RuntimeError: mat1 and mat2")
    assert failed["log_tail"] is None and failed["steps"] is None
    assert logged["log_tail"] == "epoch 1\nboom" and logged["fail_traceback"] is None
    assert done["fail_traceback"] is None
    assert done["log_tail"].startswith("trial 0: ") and "\nstep " in done["log_tail"]
    assert done["steps"] == done["epochs"][-1]["step"] and done["steps"] > 0
