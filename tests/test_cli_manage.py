"""``lrsearch studies``, ``status``, ``delete``, ``extend``, ``retry`` and ``best --format``
through the console script's entry point, in this process, on a search a worker finished."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrsearch import store
from lrsearch.cli import main
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec

SPEC = {
    "name": "done-one",
    "task": "digits-mlp",
    "task_options": {"hidden": 16},
    "budget": {"trials": 2, "epochs": 1},
    "search": {"sampler": "random", "seed": 0, "pruner": "none"},
    "space": {"families": ["cosine"], "lr": [0.05, 0.2], "optimizers": ["sgd"]},
    "baselines": False,
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with one finished search (``done-one``, 2 trials) and one queued (``queued``)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'lrsearch.db'}"
    prepare_search(url, parse_spec(SPEC))
    run_worker(url, "done-one", threads=1)
    prepare_search(url, parse_spec({**SPEC, "name": "queued"}))
    yield url


def lrsearch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[object, str, str]:
    """``lrsearch ARGS`` through the console script's entry point: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["lrsearch", *args])
    code: object = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_studies_lists_status_counts_and_best(
    finished: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = lrsearch(monkeypatch, capsys, "studies", "--storage", finished)
    assert code == 0
    lines = {
        line.split()[1]: line for line in out.splitlines() if "one" in line or "queued" in line
    }
    assert "done" in lines["done-one"] and "2/2" in lines["done-one"]
    assert "val_accuracy 0." in lines["done-one"]
    assert "queued" in lines["queued"] and "0/2" in lines["queued"]


def test_status_of_a_finished_and_a_missing_study(
    finished: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = lrsearch(monkeypatch, capsys, "status", "done-one", "--storage", finished)
    assert code == 0
    assert out.startswith("done-one: done; 2 of 2 trials finished (2 complete, 0 pruned, 0 failed)")
    assert "best: val_accuracy = " in out and "running:" not in out
    code, _, err = lrsearch(monkeypatch, capsys, "status", "nope", "--storage", finished)
    assert (code, err) == (2, "lrsearch: error: no study named 'nope'\n")


def test_status_names_the_agents_of_running_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    prepare_search(url, parse_spec({**SPEC, "name": "live"}))
    engine = store.make_engine(url)
    try:
        assert store.claim_trial(engine, "live", "gpu-host-7:4242") is not None
    finally:
        engine.dispose()
    code, out, _ = lrsearch(monkeypatch, capsys, "status", "live", "--storage", url)
    assert code == 0 and "1 running" in out
    assert "running: a new trial on gpu-host-7:4242 (last heartbeat" in out


def test_extend_then_a_worker_runs_the_new_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    prepare_search(url, parse_spec(SPEC))
    run_worker(url, "done-one", threads=1)
    code, out, _ = lrsearch(
        monkeypatch, capsys, "extend", "done-one", "--trials", "1", "--storage", url
    )
    assert code == 0
    assert out.startswith("done-one: running, 2 of 3 trials finished (1 added)")
    code, out, _ = lrsearch(monkeypatch, capsys, "worker", "--storage", url, "--threads", "1")
    assert code == 0 and "worker done: 1 complete" in out
    code, out, _ = lrsearch(monkeypatch, capsys, "status", "done-one", "--storage", url)
    assert out.startswith("done-one: done; 3 of 3 trials finished")
    for bad in ("0", "-1"):
        code, _, err = lrsearch(
            monkeypatch, capsys, "extend", "done-one", "--trials", bad, "--storage", url
        )
        assert code == 2 and err.startswith("lrsearch: error: trials: must be in [1, 1,000,000]")
    code, _, err = lrsearch(
        monkeypatch, capsys, "extend", "nope", "--trials", "3", "--storage", url
    )
    assert (code, err) == (2, "lrsearch: error: no study named 'nope'\n")


def test_retry_needs_failed_and_reports_nothing_to_retry(
    finished: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = lrsearch(monkeypatch, capsys, "retry", "done-one", "--storage", finished)
    assert code == 2 and err.startswith("lrsearch: error: --failed: ")
    code, out, _ = lrsearch(
        monkeypatch, capsys, "retry", "done-one", "--failed", "--storage", finished
    )
    assert (code, out) == (0, "done-one: no failed trial left to retry (0 failed, all retried)\n")


def test_delete_asks_unless_yes_and_refuses_an_active_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    prepare_search(url, parse_spec({**SPEC, "name": "gone"}))
    code, _, err = lrsearch(monkeypatch, capsys, "delete", "gone", "--yes", "--storage", url)
    assert code == 2 and "is queued: stop it" in err  # active: stop first
    lrsearch(monkeypatch, capsys, "stop", "gone", "--storage", url)

    monkeypatch.setattr(sys, "stdin", _Answer("n\n"))
    code, out, _ = lrsearch(monkeypatch, capsys, "delete", "gone", "--storage", url)
    assert code == 1 and "delete study 'gone'" in out  # declined: aborted, nothing deleted
    code, out, _ = lrsearch(monkeypatch, capsys, "studies", "--storage", url)
    assert "gone" in out

    monkeypatch.setattr(sys, "stdin", _Answer("y\n"))
    code, out, _ = lrsearch(monkeypatch, capsys, "delete", "gone", "--storage", url)
    assert code == 0 and out.endswith("deleted gone\n")
    code, out, _ = lrsearch(monkeypatch, capsys, "studies", "--storage", url)
    assert out.startswith("no studies yet")


class _Answer:
    """A stdin that answers one line (what a user types at the prompt)."""

    def __init__(self, text: str) -> None:
        self.lines = iter(text.splitlines(keepends=True))

    def readline(self, *_args: object) -> str:
        return next(self.lines, "")

    def isatty(self) -> bool:
        return False


def test_best_as_json_names_the_steps_and_no_baseline(
    finished: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = lrsearch(monkeypatch, capsys, "best", "done-one", "--storage", finished)
    assert code == 0
    best = json.loads(out)
    assert best["baseline"] is None and best["steps"] > 0
    assert f"searched on {best['steps']:,} optimizer updates" in err


def test_best_as_pytorch_code_and_a_bad_format(
    finished: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("best", "done-one", "--storage", finished)
    code, out, _ = lrsearch(monkeypatch, capsys, *args, "--format", "pytorch", "--steps", "300")
    assert code == 0 and "def make_optimizer(params)" in out and "TOTAL_STEPS = 300" in out
    namespace: dict[str, object] = {}
    exec(compile(out, "best.py", "exec"), namespace)
    _, best_json, _ = lrsearch(monkeypatch, capsys, *args)
    best = json.loads(best_json)
    assert namespace["PEAK_LR"] == best["schedule"]["lr"]
    assert namespace["OPTIMIZER_OPTIONS"] == best["optimizer_params"]
    code, _, err = lrsearch(monkeypatch, capsys, *args, "--format", "tf")
    assert (code, err) == (
        2,
        "lrsearch: error: --format: 'tf' is not allowed: must be json or pytorch\n",
    )
