"""The search job on one machine: create or resume a search, run W worker processes, watch.

Torch-free (the coordinator and ``lrsearch serve`` start agents from here without loading it).
Each worker is a real ``lrsearch worker`` process (the same agent that runs on other hosts),
started in its own session so that a terminal's Ctrl-C reaches only this process; it then
sends SIGTERM to the workers, which abandon their running trials cleanly. Running the same
command again resumes the search and runs only the trials that remain.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.errors import LRSearchError
from lrsearch.search.probe import probe_task
from lrsearch.search.signals import die_with_parent
from lrsearch.service import Backend, SubmitPolicy, create_search
from lrsearch.service.policy import load_command_templates
from lrsearch.spec import SearchSpec

POLL_S = 0.5


@dataclass(frozen=True)
class RunOutcome:
    search: store.Search
    interrupted: bool
    worker_errors: list[str]


def prepare_search(storage_url: str | Settings, spec: SearchSpec) -> store.Search:
    """Create the search (lrsearch row + Optuna study), or find it again to resume: the
    machine's own user's path (``lrsearch search`` and ``submit``).

    A task the catalog cannot check alone is loaded once in a child process (see probe.py),
    so bad task options fail here, before any worker starts.
    """
    settings = (
        storage_url if isinstance(storage_url, Settings) else Settings(storage_url=storage_url)
    )
    with Backend.from_settings(settings) as backend:
        templates = load_command_templates(settings.command_templates)
        policy = SubmitPolicy.local(probe_task, templates)
        return create_search(backend, spec, policy, resume=True)


def worker_command(
    storage_url: str,
    name: str | None,
    index: int,
    n_workers: int,
    device: str,
    threads: int | None,
    *,
    wait: bool = False,
) -> list[str]:
    """The ``lrsearch worker`` command line of local worker ``index`` of ``n_workers``."""
    command = [sys.executable, "-m", "lrsearch", "worker", "--storage", storage_url]
    command += ["--study", name] if name is not None else []
    command += ["--index", str(index), "--of", str(n_workers), "--device", device]
    command += ["--wait"] if wait else []
    return command + (["--threads", str(threads)] if threads else [])


Procs = list[tuple["subprocess.Popen[bytes]", Path]]


def start_workers(commands: list[list[str]], log_dir: Path) -> Procs:
    """Start each command as a worker process in its own session, logging to worker-i.log;
    each is stopped (SIGTERM) when this process dies."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: Procs = []
    for i, command in enumerate(commands):
        log_path = log_dir / f"worker-{i}.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C reaches only the parent
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                # A parent killed outright (SIGKILL, OOM) stops them as SIGTERM does: they
                # release their trials, and no agent runs on, forgotten, with --wait.
                preexec_fn=die_with_parent(os.getpid(), signal.SIGTERM),
            )
        procs.append((proc, log_path))
    return procs


def stop_workers(procs: Procs) -> None:
    """SIGTERM every worker (they release their trials), wait, kill what is left."""
    for proc, _ in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    _wait_all(procs)


def agent_devices(device: str, gpus: Sequence[int], workers: int) -> list[str]:
    """Each local agent's ``--device``: with ``gpus``, agent ``i`` trains on GPU
    ``gpus[i % len(gpus)]``; without, every agent gets ``device``.

    >>> agent_devices("cpu", (2, 3), 3)
    ['cuda:2', 'cuda:3', 'cuda:2']
    """
    if not gpus:
        return [device] * workers
    return [f"cuda:{gpus[i % len(gpus)]}" for i in range(workers)]


def run_local(
    storage_url: str,
    name: str,
    *,
    workers: int,
    device: str = "cpu",
    gpus: Sequence[int] = (),
    threads: int | None = None,
    log_dir: Path,
    on_progress: Callable[[store.Search, store.Best | None], None] | None = None,
) -> RunOutcome:
    """Run ``workers`` worker processes on the search until its budget is met or Ctrl-C
    (each on its own GPU with ``gpus``, see :func:`agent_devices`)."""
    engine = store.make_engine(storage_url)
    procs: Procs = []
    interrupted = False
    try:
        devices = agent_devices(device, gpus, workers)
        commands = [
            worker_command(storage_url, name, i, workers, devices[i], threads)
            for i in range(workers)
        ]
        procs = start_workers(commands, log_dir)
        try:
            while any(p.poll() is None for p, _ in procs):
                _report(engine, name, on_progress)
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            interrupted = True
            stop_workers(procs)
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


def _wait_all(procs: Procs) -> None:
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
