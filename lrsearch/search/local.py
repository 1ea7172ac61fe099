"""The search job on one machine: create or resume a search, run W worker processes, watch.

Each worker is a real ``lrsearch worker`` process (the same agent that runs on other hosts),
started in its own session so that a terminal's Ctrl-C reaches only this process; it then
sends SIGTERM to the workers, which abandon their running trials cleanly. Running the same
command again resumes the search and runs only the trials that remain.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from lrsearch import store
from lrsearch.errors import ConflictError, LRSearchError
from lrsearch.space import SearchSpec, grid_space
from lrsearch.tasks.registry import load_task

POLL_S = 0.5


@dataclass(frozen=True)
class RunOutcome:
    search: store.Search
    interrupted: bool
    worker_errors: list[str]


def prepare_search(storage_url: str, spec: SearchSpec) -> store.Search:
    """Create the search (lrsearch row + Optuna study), or find it again to resume.

    A search of the same name with a different spec is a ConflictError: resuming must never
    mix two experiments in one study.
    """
    task = load_task(spec.task, spec.task_options)  # bad options fail here, before any worker
    metric, direction = spec.resolved_metric(task.metric_directions(), task.default_metric)
    engine = store.make_engine(storage_url)
    try:
        store.ensure_current(engine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(
                study_name=spec.name,
                storage=store.make_optuna_storage(storage_url),
                direction=direction,
                load_if_exists=True,
            )
        study.set_user_attr("lrsearch_spec", spec.to_json_dict())
        existing = store.find_search(engine, spec.name)
        if existing is None:
            return store.create_search(
                engine,
                name=spec.name,
                spec=spec.to_json_dict(),
                task=spec.task,
                metric=metric,
                direction=direction,
                trial_budget=trial_budget(spec),
            )
        if dict(existing.spec) != spec.to_json_dict():
            raise ConflictError(
                f"a search named {spec.name!r} already exists with a different spec: "
                "give this one another name, or run the same spec to resume"
            )
        if existing.status in ("stopping", "cancelled", "failed"):
            store.set_status(engine, spec.name, "running")
        return store.get_search(engine, spec.name)
    finally:
        engine.dispose()


def trial_budget(spec: SearchSpec) -> int:
    """The spec's trials; a grid search never runs more trials than its grid has points."""
    if spec.search.sampler == "grid":
        points = math.prod(len(values) for values in grid_space(spec).values())
        return min(spec.budget.trials, points)
    return spec.budget.trials


def worker_command(
    storage_url: str, name: str, index: int, n_workers: int, device: str, threads: int | None
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "lrsearch",
        "worker",
        "--storage",
        storage_url,
        "--study",
        name,
        "--index",
        str(index),
        "--of",
        str(n_workers),
        "--device",
        device,
    ]
    return command + (["--threads", str(threads)] if threads else [])


def run_local(
    storage_url: str,
    name: str,
    *,
    workers: int,
    device: str = "cpu",
    threads: int | None = None,
    log_dir: Path,
    on_progress: Callable[[store.Search, store.Best | None], None] | None = None,
) -> RunOutcome:
    """Run ``workers`` worker processes on the search until its budget is met or Ctrl-C."""
    log_dir.mkdir(parents=True, exist_ok=True)
    engine = store.make_engine(storage_url)
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    interrupted = False
    try:
        for i in range(workers):
            log_path = log_dir / f"worker-{i}.log"
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(
                    worker_command(storage_url, name, i, workers, device, threads),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            procs.append((proc, log_path))
        try:
            while any(p.poll() is None for p, _ in procs):
                _report(engine, name, on_progress)
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            interrupted = True
            for proc, _ in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            _wait_all(procs)
        _report(engine, name, on_progress)
        errors = [
            _tail(log) for p, log in procs if p.returncode not in (0, None) and not interrupted
        ]
        return RunOutcome(store.get_search(engine, name), interrupted, errors)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
        engine.dispose()


def _wait_all(procs: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Wait for the workers to abandon their trials; a second Ctrl-C kills them."""
    deadline = time.monotonic() + 60.0
    try:
        while any(p.poll() is None for p, _ in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    for proc, _ in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _report(
    engine: object,
    name: str,
    on_progress: Callable[[store.Search, store.Best | None], None] | None,
) -> None:
    if on_progress is None:
        return
    with contextlib.suppress(LRSearchError):  # a busy moment: the next poll shows it
        on_progress(store.get_search(engine, name), store.get_best(engine, name))  # type: ignore[arg-type]


def _tail(path: Path, lines: int = 20) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
