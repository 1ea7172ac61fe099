"""Function trials: ``objective = "module:function"`` called with a Trial in the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError
from lrsearch.search.local import prepare_search
from lrsearch.search.runners.inprocess import load_objective
from lrsearch.search.worker import Worker
from lrsearch.spec import parse_spec
from tests.trial.test_command_trials import epoch_rows, trials_of

# The objective lives in tests/trial/objectives.py: importable from the repository's root.
REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

SPEC = """
name = "fn"
objective = "tests.trial.objectives:regression"
metric = "val_loss"
direction = "minimize"
baselines = false
[budget]
trials = 6
steps = 60
evals = 3
[search]
sampler = "random"
pruner = "none"
[space]
families = ["constant", "cosine", "linear"]
lr = [0.001, 0.1]
optimizers = ["sgd", "adamw"]
"""


def test_lrsearch_search_runs_function_trials_with_two_workers(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(SPEC)
    args = ["search", "spec.toml", "--workers", "2", "--threads", "1", "--storage", db_url]
    done = subprocess.run(
        [sys.executable, "-m", "lrsearch", *args],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    trials = trials_of(db_url, "fn")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    assert all(t.value is not None and t.value < 20 for t in trials)
    assert {t.params["optimizer"] for t in trials} <= {"sgd", "adamw"}
    assert len(epoch_rows(db_url)) == 6 * 3  # every report is an lr_epoch_metrics row
    assert "best of fn" in done.stdout


def _run(tmp_path: Path, function: str, **overrides: Any) -> list[Any]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    spec: dict[str, Any] = {
        "name": "f",
        "objective": f"tests.trial.objectives:{function}",
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 1},
        "search": {"sampler": "random", "pruner": "none"},
        "space": {"families": ["constant"], "optimizers": ["sgd"]},
        "baselines": False,
        **overrides,
    }
    settings = Settings(storage_url=url, runs_dir=str(tmp_path / "runs"))
    prepare_search(settings, parse_spec(spec))
    Worker(url, study="f", settings=settings, threads=1).run()
    return trials_of(url, "f")


def test_without_a_return_value_the_last_report_is_the_value(tmp_path: Path) -> None:
    (trial,) = _run(tmp_path, "reports_only")
    assert trial.state.name == "COMPLETE" and trial.value == 1.5
    assert trial.intermediate_values == {0: 2.0, 1: 1.5}


def test_a_function_that_never_reports_fails_with_a_clear_reason(tmp_path: Path) -> None:
    (trial,) = _run(tmp_path, "never_reports")
    assert trial.state.name == "FAIL"
    reason = trial.user_attrs["fail_reason"]
    assert reason == "the function tests.trial.objectives:never_reports returned without " + (
        "reporting val_loss"
    )


def test_a_nan_metric_fails_the_trial_as_diverged(tmp_path: Path) -> None:
    (trial,) = _run(tmp_path, "diverges")
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == "diverged"
    assert "val_loss is nan" in trial.user_attrs["fail_detail"]


def test_an_objective_that_is_not_there_names_the_field() -> None:
    with pytest.raises(InvalidInputError, match=r"^objective: .*no function 'nope'"):
        load_objective("tests.trial.objectives:nope")


def test_lrsearch_run_calls_the_function_with_a_standalone_trial(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(SPEC)
    (tmp_path / "s.json").write_text(
        '{"schedule": {"family": "linear", "lr": 0.05}, "optimizer": "adamw"}'
    )
    done = subprocess.run(
        [sys.executable, "-m", "lrsearch", "run", "spec.toml", "--schedule", "s.json"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("lrsearch: step ") == 3
    assert "lrsearch: run complete: val_loss = " in done.stderr


def test_an_in_process_trial_has_its_own_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (trial,) = _run(tmp_path, "prints")
    log = (tmp_path / "runs" / "f" / "trial-0" / "trial.log").read_text()
    lines = log.splitlines()
    assert lines[0].startswith("trial 0: constant at peak lr ") and "sgd" in lines[0]
    assert "epoch 0 of trial 0: training" in lines
    assert "a warning on stderr" in lines
    assert "step 10: val_loss=0.5" in lines
    assert trial.user_attrs["log_tail"] == log  # short: all of it
    assert "epoch 0 of trial 0: training" in capsys.readouterr().out  # still printed too


def test_a_built_in_trial_logs_its_reports(tmp_path: Path) -> None:
    (trial,) = _run(
        tmp_path,
        "unused",
        objective=None,
        task="digits-mlp",
        task_options={"hidden": 8},
        metric=None,
        direction=None,
        budget={"trials": 1, "epochs": 2},
    )
    tail = trial.user_attrs["log_tail"]
    assert tail.startswith("trial 0: constant at peak lr ")
    assert tail.count("\nstep ") == 2 and "val_accuracy=" in tail
