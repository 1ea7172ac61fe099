"""One trial: suggest a config, train it, report each epoch to the ledger, decide the outcome.

A pruned trial raises ``optuna.TrialPruned`` out of the reporter; a diverged one is recorded as
failed with ``fail_reason = "diverged"``; either way the search goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import optuna
import torch

from lrsearch.errors import TrainingDiverged
from lrsearch.search.ledger import Outcome, RunningTrial, TrialLedger
from lrsearch.service import notes
from lrsearch.space import TrialConfig, baseline_of, suggest
from lrsearch.spec import SearchSpec
from lrsearch.train.loop import RunLength, train
from lrsearch.train.task import TensorTask


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended, its value if complete, its config and why it failed."""

    outcome: Outcome
    value: float | None
    config: TrialConfig
    reason: str | None = None


class LedgerReporter:
    """Hands each epoch to the ledger; raises TrialPruned when the pruner says so."""

    def __init__(self, ledger: TrialLedger, run: RunningTrial, metric: str) -> None:
        self.ledger, self.run, self.metric = ledger, run, metric

    def __call__(self, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        row = {"epoch": epoch, "step": step, **metrics}
        if self.ledger.report(self.run, epoch, row, metrics[self.metric]):
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")


def configure(ledger: TrialLedger, run: RunningTrial, spec: SearchSpec) -> TrialConfig:
    """The trial's config (a baseline's, or suggested), kept in its user attributes."""
    trial = run.trial
    baseline = baseline_of(trial.user_attrs)
    if baseline is not None:
        note = notes.baseline_note(str(trial.user_attrs.get("baseline")), baseline)
        ledger.call(lambda: notes.save(trial, note), "save the baseline's note")
        config = baseline
    else:
        config = ledger.call(lambda: suggest(trial, spec), "suggest")
    ledger.set_attrs(
        run,
        {
            "schedule": config.schedule.to_dict(),
            "optimizer_params": dict(config.optimizer_params),
            "config": config.to_dict(),
        },
    )
    return config


def run_trial(
    ledger: TrialLedger,
    run: RunningTrial,
    spec: SearchSpec,
    task: TensorTask,
    device: torch.device | str,
) -> TrialOutcome:
    """Train one suggested config; the trial's attributes record its schedule and config."""
    config = configure(ledger, run, spec)
    metric, direction = run.search.metric, run.search.direction
    length = RunLength(spec.budget.epochs, spec.budget.steps, spec.budget.evals)
    if length.epochs is None and length.steps is None:
        length = RunLength(epochs=10)
    try:
        result = train(
            task,
            config.schedule,
            config.optimizer,
            config.optimizer_params,
            length=length,
            seed=config.seed,
            metric=metric,
            direction=direction,
            reporter=LedgerReporter(ledger, run, metric),
            device=device,
        )
    except optuna.TrialPruned:
        return TrialOutcome(Outcome.PRUNED, None, config)
    except TrainingDiverged as exc:
        ledger.set_attrs(run, {"fail_reason": "diverged", "fail_detail": str(exc)})
        return TrialOutcome(Outcome.FAILED, None, config, "diverged")
    return TrialOutcome(Outcome.COMPLETE, result.metrics[metric], config)
