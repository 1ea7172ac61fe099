"""An LR range test's sweep, run as a trial: a special schedule and frequent reports.

The sweep trial (queued when the search was created, space/lr_range.py) runs through the
search's own runner, like any trial: the built-in loop, the user's function or command. Its
:class:`~lrsearch.trial.Trial` carries the sweep: ``trial.scheduler()`` sweeps the LR, and
each ``trial.report()`` adds the LR of the last update; :class:`SweepBackend` keeps the
points, writes them as the trial's epoch rows (never as Optuna intermediate values, so no
pruner compares them with searched trials), and ends the sweep once it ran its updates or
its loss diverged. The ledger stores the sweep's curve when it finishes and, with the last
sweep, the range (ledger.py).

Code that cannot sweep (it never calls ``trial.scheduler``, or reports fewer than 10 times in
the sweep's updates) ends its sweep without a usable curve; the range of that optimizer then
stays the space's, and the reason says why. Code that raises fails the sweep like a trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from lrsearch.schedules import RangeSweep, ScheduleSpec
from lrsearch.search.ledger import Outcome, RunningTrial, TrialLedger
from lrsearch.search.runners import Runner, TrialBackend
from lrsearch.space import TrialConfig
from lrsearch.space.lr_range import (
    MIN_POINTS,
    DivergenceWatch,
    SweepReading,
    beta_for,
    read_sweep,
    sweep_of,
)
from lrsearch.trial import Trial, TrialBudget


@dataclass(frozen=True)
class SweepResult:
    """What one sweep trial produced: its reading, the updates it ran, a trial's length in
    updates as the code planned it, and why its curve is not usable (None when it is)."""

    reading: SweepReading
    updates: int
    trial_updates: int | None
    reason: str | None


class SweepBackend(TrialBackend):
    """A sweep's reports: kept as (lr, loss) points and epoch rows; stops the sweep when it
    has run its updates or diverged (see the module docstring)."""

    def __init__(self, ledger: TrialLedger, run: RunningTrial, sweep: RangeSweep) -> None:
        super().__init__(run.search.metric)
        self.ledger, self.run, self.sweep = ledger, run, sweep
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.updates = 0
        self.trial_updates: int | None = None
        self.planned = sweep.steps  # the sweep's updates, once the code says a trial's length
        self.ended_nonfinite = False
        self.without_lr = 0
        self._beta: float | None = None  # the planned points' window (read_sweep's), at point 1
        self._average = 0.0
        self._watch = DivergenceWatch()

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        if self.pruned:
            return True
        index, self.reports = self.reports, self.reports + 1
        loss = float(metrics.get("sweep_loss", math.nan))
        if "sweep_lr" not in metrics:
            self.without_lr += 1
            self.pruned = self.reports >= MIN_POINTS  # the LR never moves: nothing to read
            return self.pruned
        self.updates = int(metrics.get("sweep_update", self.updates))
        if "trial_updates" in metrics and self.trial_updates is None:  # the same every report
            self.trial_updates = int(metrics["trial_updates"])
            self.planned = self.sweep.sized(self.trial_updates).steps
        if not math.isfinite(loss):
            self.ended_nonfinite = True
            self.pruned = True
            return True
        lr = float(metrics["sweep_lr"])
        self.lrs.append(lr)
        self.losses.append(loss)
        self.last_value = loss
        row = {"epoch": index, "step": step, "lr": lr, "train_loss": loss}
        self.ledger.report(self.run, index, row, loss)
        diverged = self._diverged(loss)
        self.pruned = self.updates >= self.planned or diverged
        return self.pruned

    def _diverged(self, loss: float) -> bool:
        """The smoothed loss lost all the sweep's progress (space/lr_range.py), judged from
        MIN_POINTS reports on: the average is warming up before."""
        if self._beta is None:
            self._beta = beta_for(self.planned)
        self._average = self._beta * self._average + (1.0 - self._beta) * loss
        smoothed = self._average / (1.0 - self._beta ** len(self.losses))
        return self._watch.add(smoothed) and len(self.losses) >= MIN_POINTS

    def result(self) -> SweepResult:
        reading = read_sweep(self.lrs, self.losses, self.ended_nonfinite, self.planned)
        reason = None
        if self.without_lr and not self.lrs:
            reason = "the code never called trial.scheduler(): the LR never swept"
        elif not reading.usable:
            reason = (
                f"{len(self.lrs)} reports in {self.updates} updates (a sweep needs "
                f"{MIN_POINTS}): report more often (the sweep's budget.steps and budget.evals)"
            )
        return SweepResult(reading, self.updates, self.trial_updates, reason)


def sweep_trial(
    run: RunningTrial, sweep: RangeSweep, info: Mapping[str, object], device: str, workdir: Path
) -> tuple[Trial, TrialConfig]:
    """The Trial a sweep trial's code sees, and its config (the optimizer at the top LR)."""
    schedule = ScheduleSpec.create("constant", lr=sweep.high)
    params = info.get("optimizer_params")
    config = TrialConfig(
        schedule,
        str(info["optimizer"]),
        dict(params) if isinstance(params, Mapping) else {},
        int(info["seed"]),  # type: ignore[call-overload]
    )
    trial = Trial(
        number=run.number,
        params={},
        schedule=schedule,
        optimizer=config.optimizer,
        optimizer_params=config.optimizer_params,
        seed=config.seed,
        budget=TrialBudget(None, sweep.steps, sweep.steps),
        metric=run.search.metric,
        direction=run.search.direction,
        device=device,
        workdir=workdir,
        study=run.search.name,
        sweep=sweep,
    )
    return trial, config


def run_sweep(
    ledger: TrialLedger, run: RunningTrial, runner: Runner, device: str, workdir: Path
) -> tuple[Outcome, TrialConfig, str | None, dict[str, object]]:
    """Run the sweep trial ``run`` with the search's runner; its result is kept on ``run``
    (the ledger stores it when the trial is recorded). Returns the outcome (PRUNED: a sweep
    stops early by design; FAILED when the code failed), its config, why it failed, and the
    attributes of its trial."""
    info = sweep_of(run.user_attrs)
    assert info is not None
    sweep = RangeSweep.from_dict(info)
    trial, config = sweep_trial(run, sweep, info, device, workdir)
    backend = SweepBackend(ledger, run, sweep)
    ran = runner.run(trial, backend)
    result = backend.result()
    run.sweep_result = result
    attrs: dict[str, object] = dict(ran.attrs)
    attrs["sweep_updates"] = result.updates
    if result.trial_updates is not None:
        attrs["sweep_trial_updates"] = result.trial_updates  # what the reaper may need
    if result.reason is not None:
        attrs["sweep_note"] = result.reason
    if ran.outcome is Outcome.FAILED and not result.reading.usable and ran.reason != "diverged":
        return Outcome.FAILED, config, ran.reason, attrs
    return Outcome.PRUNED, config, None, attrs


def shown_device(device: torch.device, command: bool) -> str:
    """The device a trial's code sees (a command's child sees only its own GPU, as cuda)."""
    if command:
        return "cuda" if device.type == "cuda" else "cpu"
    return str(device)
