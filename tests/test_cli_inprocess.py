"""Argument handling of the command line, in-process (typer's CliRunner): fast, no subprocess.

The real console script (its one-line errors, its exit codes) is tested in test_cli.py; signals
and agents in tests/search/test_search_job.py and tests/api/test_serve.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrsearch import store
from lrsearch.cli import app, main
from lrsearch.errors import InvalidInputError, NotFoundError

runner = CliRunner()


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[object, str, str]:
    """``lrsearch ARGS`` through the console script's entry point, in this process."""
    monkeypatch.setattr(sys, "argv", ["lrsearch", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


@pytest.mark.parametrize(
    ("args", "error", "field"),
    [
        (["search", "spec.toml", "--workers", "0"], InvalidInputError, "--workers"),
        (["search", "spec.toml", "--device", "tpu"], InvalidInputError, "--device"),
        (["search", "missing.toml"], InvalidInputError, "spec"),
        (["submit", "bad.toml"], InvalidInputError, "budget.trials"),
        (["worker", "--device", "gpu"], InvalidInputError, "--device"),
        (["serve", "--device", "tpu"], InvalidInputError, "--device"),
    ],
)
def test_bad_arguments_raise_the_field(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    error: type[Exception],
    field: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text('name = "x"\ntask = "digits-mlp"\n')
    (tmp_path / "bad.toml").write_text('name = "x"\ntask = "digits-mlp"\n[budget]\ntrials = 0\n')
    result = runner.invoke(app, args)
    assert isinstance(result.exception, error), result.output
    assert result.exception.field == field  # type: ignore[attr-defined]
    assert not (tmp_path / "lrsearch.db").exists()  # refused before any database is touched


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "0"],
        ["report", "x", "--top-k", "30"],
        ["search"],
        ["worker", "--threads", "0"],
        ["best"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2


def test_reading_commands_on_a_missing_database_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    for command in (["best", "x"], ["stop", "x"], ["report", "x"], ["dashboard"]):
        code, _out, err = run_main(monkeypatch, capsys, *command, "--storage", url)
        # a store error (exit 1), not bad input (exit 2): the command line itself was fine
        assert code == 1 and err.count("\n") == 1, (command, err)
        assert err.startswith("lrsearch: error: no database file at"), err
    assert not (tmp_path / "none.db").exists()


def test_submit_then_best_and_stop_through_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    spec = 'name = "q"\ntask = "digits-mlp"\n[budget]\ntrials = 3\nepochs = 1\n'
    (tmp_path / "spec.toml").write_text(spec)
    code, out, _ = run_main(monkeypatch, capsys, "submit", "spec.toml", "--storage", url)
    assert (code, out) == (0, "q: queued, 0 of 3 trials done\n")
    code, out, _ = run_main(monkeypatch, capsys, "submit", "spec.toml", "--storage", url)
    assert out == "q: queued, 0 of 3 trials done\n"  # the same spec resumes
    (tmp_path / "spec.toml").write_text(spec.replace("trials = 3", "trials = 4"))
    code, _, err = run_main(monkeypatch, capsys, "submit", "spec.toml", "--storage", url)
    assert code == 2 and "run `lrsearch extend q --trials 1`" in err and err.count("\n") == 1
    code, _, err = run_main(monkeypatch, capsys, "best", "q", "--storage", url)
    assert code == 2 and err == "lrsearch: error: study 'q' has no complete trial yet\n"
    code, out, _ = run_main(monkeypatch, capsys, "stop", "q", "--storage", url)
    assert out == "q: done (0 trials still running)\n"


def test_schedules_list_json_in_process() -> None:
    result = runner.invoke(app, ["schedules", "list", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["family"] == "constant"


def test_best_of_a_missing_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert runner.invoke(app, ["db", "upgrade", "--storage", url]).exit_code == 0
    result = runner.invoke(app, ["best", "nope", "--storage", url])
    assert isinstance(result.exception, NotFoundError)


USER_MODULE = """
from examples.user_task import make_task as make

print("printed at import: goes to stderr, not into the answer")
"""


def test_a_python_task_is_checked_by_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The metric and direction of a python: task come from loading it, in a child process:
    this process (the coordinator) does not import torch for it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))  # examples/ for the child
    (tmp_path / "toy_task.py").write_text(USER_MODULE)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    for name, task, expected in [
        ("ok", "python:toy_task:make", None),
        ("bad", "python:toy_task:nope", "task: module 'toy_task' has no attribute 'nope'"),
        ("opt", "python:toy_task:make", "task_options: do not fit"),
    ]:
        options = "{ m = 1 }" if name == "opt" else "{}"
        spec = f'name = "{name}"\ntask = "{task}"\ntask_options = {options}\n'
        (tmp_path / "spec.toml").write_text(spec + "[budget]\ntrials = 2\nepochs = 1\n")
        code, out, err = run_main(monkeypatch, capsys, "submit", "spec.toml", "--storage", url)
        if expected is None:
            assert code == 0, err
            assert "ok: queued" in out and "toy_task" not in sys.modules
        else:
            assert code == 2 and err.startswith(f"lrsearch: error: {expected}"), err
            assert err.count("\n") == 1
    engine = store.make_engine(url)
    try:  # learned from the task (the catalog's guess for a python: task is val_loss)
        found = store.get_search(engine, "ok")
    finally:
        engine.dispose()
    assert (found.metric, found.direction) == ("val_accuracy", "maximize")
