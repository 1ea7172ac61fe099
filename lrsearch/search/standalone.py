"""``lrsearch run``: train once with a chosen schedule, through the same runner as a search.

The spec's task, objective or command runs with a standalone Trial: its reports are printed,
never pruned, and nothing is written to a database. So what was searched is what ships: the
same code path, with the best schedule (``best:STUDY``) or one from a file.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import torch

from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError, ScheduleError
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.runners import CommandRunner, PrintBackend, make_runner
from lrsearch.service import Backend, best_config
from lrsearch.space import TrialConfig
from lrsearch.spec import SearchSpec
from lrsearch.store import Outcome
from lrsearch.trial import Trial, TrialBudget

BEST_PREFIX = "best:"


def chosen_config(schedule: str, spec: SearchSpec, settings: Settings) -> TrialConfig:
    """``best:STUDY`` (the study's best trial, from the database) or a JSON file holding a
    ScheduleSpec, or ``{"schedule": {...}, "optimizer": ..., "optimizer_params": ...}``."""
    if schedule.startswith(BEST_PREFIX):
        with Backend.from_settings(settings) as backend:
            best = best_config(backend, schedule[len(BEST_PREFIX) :])
        return _config(best, spec, "--schedule")
    path = Path(schedule)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(
            "--schedule", f"{schedule!r} is neither best:STUDY nor an existing file"
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError("--schedule", f"cannot read {schedule!r}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError("--schedule", f"{schedule!r} must hold a JSON object")
    return _config(data if "schedule" in data else {"schedule": data}, spec, "--schedule")


def _config(data: Mapping[str, Any], spec: SearchSpec, field: str) -> TrialConfig:
    try:
        schedule = ScheduleSpec.from_dict(data["schedule"])
    except ScheduleError as exc:
        raise InvalidInputError(f"{field}.{exc.field}", exc.reason) from None
    optimizer = str(data.get("optimizer") or spec.space.optimizers[0])
    options = dict(data.get("optimizer_params") or {})
    return TrialConfig(schedule, optimizer, options, int(data.get("seed", spec.search.seed)))


def run_once(
    spec: SearchSpec,
    config: TrialConfig,
    settings: Settings,
    *,
    device: str = "cpu",
    stream: TextIO | None = None,
) -> int:
    """Train once; the exit code: a command's own, else 0 when the run completed."""
    out = stream or sys.stderr
    metric, direction = spec.resolved_metric()
    budget = spec.budget
    torch_device = torch.device(device)
    runner = make_runner(spec, torch_device, settings)
    if isinstance(runner, CommandRunner):
        runner = dataclasses.replace(runner, to_terminal=True)
    trial = Trial(
        number=0,
        params={},
        schedule=config.schedule,
        optimizer=config.optimizer,
        optimizer_params=config.optimizer_params,
        seed=config.seed,
        budget=TrialBudget(budget.epochs, budget.steps, budget.evals),
        metric=metric,
        direction=direction,
        device=device,
        workdir=Path(settings.runs_dir).resolve() / spec.name / "run",
        study=spec.name,
    )
    result = runner.run(trial, PrintBackend(metric, out))
    if result.outcome is Outcome.COMPLETE:
        print(f"lrsearch: run complete: {metric} = {result.value:.6g}", file=out)
    else:
        print(f"lrsearch: run {result.outcome.value}: {result.reason or ''}", file=out)
    if result.exit_code is not None:
        return result.exit_code if result.exit_code >= 0 else 128 - result.exit_code
    return 0 if result.outcome is Outcome.COMPLETE else 1
