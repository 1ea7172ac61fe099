"""One trial: suggest a config, train it, report each epoch to Optuna, decide the outcome.

This is the only module that calls ``trial.report`` and ``trial.should_prune``. A pruned trial
raises ``optuna.TrialPruned`` out of the reporter; a diverged one is recorded as failed with
``fail_reason = "diverged"``; either way the search goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import optuna
import torch

from lrsearch.errors import TrainingDiverged
from lrsearch.space import SearchSpec, TrialConfig, suggest
from lrsearch.tasks.base import TensorTask
from lrsearch.train.loop import RunLength, train

Outcome = Literal["complete", "pruned", "failed"]


@dataclass(frozen=True)
class TrialOutcome:
    outcome: Outcome
    value: float | None
    config: TrialConfig
    reason: str | None = None


class OptunaReporter:
    """Sends the metric to Optuna after each epoch; prunes when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.history: list[dict[str, float]] = []

    def __call__(self, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        self.history.append({"epoch": epoch, "step": step, **metrics})
        self.trial.report(metrics[self.metric], epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")


def run_trial(
    trial: optuna.Trial,
    spec: SearchSpec,
    task: TensorTask,
    device: torch.device | str,
    *,
    metric: str,
    direction: str,
) -> TrialOutcome:
    """Train one suggested config; the trial's attributes record its schedule and history."""
    config = suggest(trial, spec)
    trial.set_user_attr("schedule", config.schedule.to_dict())
    trial.set_user_attr("optimizer_params", dict(config.optimizer_params))
    reporter = OptunaReporter(trial, metric)
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
            reporter=reporter,
            device=device,
        )
    except optuna.TrialPruned:
        _save_history(trial, reporter)
        return TrialOutcome("pruned", None, config)
    except TrainingDiverged as exc:
        _save_history(trial, reporter)
        trial.set_user_attr("fail_reason", "diverged")
        trial.set_user_attr("fail_detail", str(exc))
        return TrialOutcome("failed", None, config, "diverged")
    _save_history(trial, reporter)
    return TrialOutcome("complete", result.metrics[metric], config)


def _save_history(trial: optuna.Trial, reporter: OptunaReporter) -> None:
    trial.set_user_attr("history", _rounded(reporter.history))


def _rounded(history: list[dict[str, float]]) -> list[dict[str, Any]]:
    return [
        {k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()} for h in history
    ]
