"""Command trials through a real worker: real child processes, the local channel, a database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import Worker
from lrsearch.spec import parse_spec
from lrsearch.store.models import epoch_metrics

SCRIPTS = Path(__file__).parent / "scripts"


def command_spec(tmp_path: Path, mode: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "cmd",
        "command": [sys.executable, str(SCRIPTS / "trainer.py"), mode],
        "env": {"MARKER_DIR": str(tmp_path)},
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 2, "steps": 100, "evals": 4},
        "search": {"sampler": "random", "seed": 0, "pruner": "median", "startup_trials": 1},
        "space": {"families": ["constant", "cosine"], "lr": [0.01, 0.3], "optimizers": ["sgd"]},
        "baselines": False,
    }
    spec.update(overrides)
    return spec


def run_search(url: str, tmp_path: Path, spec: dict[str, Any], **settings: Any) -> Settings:
    options = {"runs_dir": str(tmp_path / "runs"), "kill_grace_s": 0.5} | settings
    made = Settings(storage_url=url, **options)
    prepare_search(made, parse_spec(spec))
    Worker(url, study=spec["name"], settings=made, threads=1).run()
    return made


def trials_of(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = store.make_optuna_storage(url)
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def epoch_rows(url: str) -> list[tuple[int, int]]:
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(epoch_metrics.c.trial_number, epoch_metrics.c.epoch))
            return sorted((int(r[0]), int(r[1])) for r in rows)
    finally:
        engine.dispose()


def test_a_command_trial_completes_and_a_bad_one_is_pruned_within_one_evaluation(
    db_url: str, tmp_path: Path
) -> None:
    run_search(db_url, tmp_path, command_spec(tmp_path, "ok"))
    first, second = trials_of(db_url, "cmd")
    assert first.state.name == "COMPLETE" and first.value == pytest.approx(0.003)
    assert second.state.name == "PRUNED"
    # median pruning with one warm-up report: pruned at the second report, stopped there
    assert sorted(second.intermediate_values) == [0, 1]
    assert epoch_rows(db_url) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    folder = tmp_path / "runs" / "cmd" / "trial-0"
    assert "done trial 0" in (folder / "trial.log").read_text()
    assert "done trial 0" in first.user_attrs["log_tail"]
    assert "TrialPruned" in second.user_attrs["log_tail"]  # the child's traceback, kept


def test_a_child_that_ignores_pruning_is_terminated_then_killed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    started = time.monotonic()
    run_search(url, tmp_path, command_spec(tmp_path, "stubborn"))
    _, second = trials_of(url, "cmd")
    assert second.state.name == "PRUNED"
    told = float((tmp_path / "stubborn.pruned").read_text())
    # SIGTERM (ignored) after 0.5 s, SIGKILL after 1 s: the worker went on well within 3 s
    assert time.time() - told < 3.0
    assert time.monotonic() - started < 30


def test_a_failing_command_is_failed_with_its_exit_code_and_output_tail(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_search(url, tmp_path, command_spec(tmp_path, "crash", budget={"trials": 1}))
    (trial,) = trials_of(url, "cmd")
    assert trial.state.name == "FAIL"
    reason = trial.user_attrs["fail_reason"]
    assert reason.startswith("the command exited with code 3: ")
    assert "ValueError: the data file is broken" in reason
    assert "ValueError" in trial.user_attrs["log_tail"]


def test_a_command_that_never_reports_is_failed_with_a_clear_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_search(url, tmp_path, command_spec(tmp_path, "silent", budget={"trials": 1}))
    (trial,) = trials_of(url, "cmd")
    assert trial.state.name == "FAIL"
    assert trial.user_attrs["fail_reason"] == "the command exited without reporting val_loss"


def test_a_trainer_without_lrsearch_speaks_the_json_lines_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # the worker's secrets, which the child must not see (protocol_client.py checks)
    monkeypatch.setenv("LRSEARCH_STORAGE_URL", url)
    monkeypatch.setenv("LRSEARCH_API_TOKEN", "a-secret-token-of-the-worker")
    spec = command_spec(
        tmp_path,
        "",
        command=[sys.executable, "-I", str(SCRIPTS / "protocol_client.py")],  # -I: no lrsearch
        metric="score",
        direction="maximize",
        budget={"trials": 2, "steps": 10, "evals": 3},
        search={"sampler": "random", "seed": 1, "pruner": "none"},
    )
    run_search(url, tmp_path, spec)
    trials = trials_of(url, "cmd")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for trial in trials:
        assert trial.value == pytest.approx(trial.params["lr"] * 3)
        assert "trial" in trial.user_attrs["log_tail"]


def test_sigkill_of_the_worker_leaves_no_child_and_the_trial_runs_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    spec = command_spec(tmp_path, "hang", budget={"trials": 1, "steps": 10, "evals": 2})
    settings = Settings(storage_url=url, runs_dir=str(tmp_path / "runs"))
    prepare_search(settings, parse_spec(spec))
    env = {**os.environ, "LRSEARCH_HEARTBEAT_S": "0.5", "LRSEARCH_STALE_AFTER_S": "2"}
    command = [sys.executable, "-m", "lrsearch", "worker", "--study", "cmd", "--storage", url]
    worker = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the training process outlived its worker"

    time.sleep(2.5)  # the dead worker's lease goes stale
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    first, rerun = trials_of(url, "cmd")
    assert first.state.name == "FAIL" and rerun.state.name == "COMPLETE"
    assert rerun.params == first.params


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_lrsearch_run_trains_once_with_the_best_schedule(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    spec = command_spec(tmp_path, "ok", search={"sampler": "random", "seed": 0, "pruner": "none"})
    run_search(url, tmp_path, spec)
    best = min(trials_of(url, "cmd"), key=lambda t: t.value)
    family = best.params["family"]
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(_toml(spec))
    run = [sys.executable, "-m", "lrsearch", "run", str(spec_file), "--storage", url]
    done = subprocess.run([*run, "--schedule", "best:cmd"], cwd=tmp_path, capture_output=True)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    assert f"(sgd, {family})" in out  # the child's own output, on the terminal
    assert err.count("lrsearch: step ") == 4 and "run complete: val_loss = 0.003" in err

    schedule = tmp_path / "schedule.json"
    schedule.write_text('{"family": "linear", "lr": 0.05}')
    done = subprocess.run([*run, "--schedule", str(schedule)], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0 and "(sgd, linear)" in done.stdout.decode()

    missing = subprocess.run([*run, "--schedule", "nope.json"], cwd=tmp_path, capture_output=True)
    lines = missing.stderr.decode().strip().splitlines()
    assert (
        missing.returncode == 2
        and len(lines) == 1
        and lines[0].startswith(
            "lrsearch: error: --schedule: 'nope.json' is neither best:STUDY nor an existing file"
        )
    )
    crash = command_spec(tmp_path, "crash")
    spec_file.write_text(_toml(crash))
    failed = subprocess.run([*run, "--schedule", str(schedule)], cwd=tmp_path, capture_output=True)
    assert failed.returncode == 3 and b"the data file is broken" in failed.stderr


def _toml(spec: dict[str, Any]) -> str:
    """The spec as TOML (the few shapes these specs use)."""
    import json

    lines, tables = [], []
    for key, value in spec.items():
        if isinstance(value, dict):
            tables.append(
                f"[{key}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in value.items())
            )
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n" + "\n".join(tables)


def test_sigterm_of_the_worker_kills_the_child_and_queues_the_trial_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    spec = command_spec(tmp_path, "hang", budget={"trials": 1, "steps": 10, "evals": 2})
    prepare_search(Settings(storage_url=url), parse_spec(spec))
    command = [sys.executable, "-m", "lrsearch", "worker", "--study", "cmd", "--storage", url]
    worker = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0 and "released to run again" in err
    assert not _alive(child)
    (trial,) = trials_of(url, "cmd")[:1]
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == "interrupted"
    assert len(trials_of(url, "cmd")) == 2  # the same parameters, queued again
    assert trials_of(url, "cmd")[1].state.name == "WAITING"


def test_a_missing_program_fails_the_search_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    spec = command_spec(tmp_path, "ok", command=["no-such-trainer", "x"])
    run_search(url, tmp_path, spec)
    search = store.get_search(engine := store.make_engine(url), "cmd")
    engine.dispose()
    assert search.status == "failed"
    assert "'no-such-trainer' is not on this agent's PATH" in (search.error or "")


CHECK_INTERPRETER = """
import os, sys
import lrsearch.trial
assert sys.executable == os.environ["EXPECTED_PYTHON"], (sys.executable, os.environ["PATH"])
assert os.environ["OMP_NUM_THREADS"] == "1", os.environ["OMP_NUM_THREADS"]
lrsearch.trial.current().report(0, score=1.0)
"""


def test_a_bare_python_is_the_agents_interpreter_with_its_share_of_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    spec = command_spec(
        tmp_path,
        "",
        # a PATH whose first python (if any) is not the agent's
        command=["python", "-c", CHECK_INTERPRETER],
        env={"EXPECTED_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        metric="score",
        direction="maximize",
        budget={"trials": 1, "steps": 10, "evals": 1},
        search={"sampler": "random", "seed": 0, "pruner": "none"},
    )
    made = run_search(url, tmp_path, spec)  # the worker runs with threads=1
    [trial] = trials_of(url, "cmd")
    log = (Path(made.runs_dir) / "cmd" / "trial-0" / "trial.log").read_text()
    assert trial.state.name == "COMPLETE", log
