"""Runners: one Trial runtime for built-in tasks, function trials and command trials.

``make_runner(spec, ...)`` picks one from the spec: ``task`` -> :class:`TaskRunner` (the
built-in loop, in this process), ``objective`` -> :class:`FunctionRunner` (the user's function,
in this process), ``command`` -> :class:`CommandRunner` (a child process group over the local
channel). Each gets a :class:`~lrsearch.trial.Trial` and a :class:`TrialBackend` (the ledger in
a search, printing in ``lrsearch run``) and returns a :class:`RunResult`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from lrsearch.config import Settings
from lrsearch.search.runners.backend import LedgerBackend, PrintBackend, TrialBackend
from lrsearch.search.runners.base import Runner, RunResult
from lrsearch.search.runners.command import LOG_NAME, LOG_TAIL_ATTR, CommandError, CommandRunner
from lrsearch.search.runners.inprocess import FunctionRunner, TaskRunner, load_objective, settle
from lrsearch.spec import SearchSpec
from lrsearch.tasks.registry import load_task
from lrsearch.train.task import to_device

__all__ = [
    "LOG_NAME",
    "LOG_TAIL_ATTR",
    "CommandError",
    "CommandRunner",
    "FunctionRunner",
    "LedgerBackend",
    "PrintBackend",
    "RunResult",
    "Runner",
    "TaskRunner",
    "TrialBackend",
    "make_runner",
    "settle",
]


def make_runner(
    spec: SearchSpec, device: torch.device, settings: Settings, worker_index: int = 0
) -> Runner:
    """The runner of ``spec``'s trials on this agent (loads the task or imports the function
    now, so a search that cannot run here fails once, not per trial)."""
    if spec.task is not None:
        return TaskRunner(to_device(load_task(spec.task, spec.task_options), device))
    if spec.objective is not None:
        return FunctionRunner(load_objective(spec.objective), spec.objective)
    if not isinstance(spec.command, list):  # a template name is resolved when submitted
        raise CommandError(f"command template {spec.command!r} was never resolved")
    argv = interpreter_first(spec.command)
    check_program(argv[0], spec.cwd, spec.env)
    return CommandRunner(
        argv,
        spec.cwd,
        dict(spec.env),
        settings.kill_grace_s,
        cuda_devices(device, worker_index),
    )


def interpreter_first(command: Sequence[str]) -> tuple[str, ...]:
    """``command`` with a bare ``python`` or ``python3`` replaced by this agent's interpreter.

    The worker's own Python has lrsearch (and, usually, the user's packages) installed; the
    first ``python`` on ``PATH`` may be another one when the virtual environment is not
    activated. A path (``/opt/py/bin/python``, ``.venv/bin/python``) is kept as given.
    """
    if command and command[0] in ("python", "python3"):
        return (sys.executable, *command[1:])
    return tuple(command)


def check_program(program: str, cwd: str | None, env: Mapping[str, str]) -> None:
    """The command's program exists here (else the search fails once, with this reason)."""
    if os.sep in program:
        path = Path(cwd or ".") / program
        if not path.exists():
            raise CommandError(f"command: {str(path)!r} does not exist on this agent")
        return
    if shutil.which(program, path=env.get("PATH", os.environ.get("PATH"))) is None:
        raise CommandError(f"command: {program!r} is not on this agent's PATH")


def cuda_devices(device: torch.device, worker_index: int) -> str | None:
    """CUDA_VISIBLE_DEVICES for a command trial: the agent's GPU, when it has one."""
    if device.type != "cuda":
        return None
    if device.index is not None:
        return str(device.index)
    count = torch.cuda.device_count()
    return str(worker_index % count) if count else None
