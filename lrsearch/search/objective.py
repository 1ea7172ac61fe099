"""One trial: suggest a config, train it, report each epoch to Optuna, decide the outcome.

This is the only module that calls ``trial.report`` and ``trial.should_prune``. A pruned trial
raises ``optuna.TrialPruned`` out of the reporter; a diverged one is recorded as failed with
``fail_reason = "diverged"``; either way the search goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import optuna
import torch

from lrsearch.errors import LRSearchError, TrainingDiverged
from lrsearch.search import notes
from lrsearch.space import TrialConfig, baseline_of, suggest
from lrsearch.spec import SearchSpec
from lrsearch.store.retry import retrying
from lrsearch.train.loop import RunLength, train
from lrsearch.train.task import TensorTask

Outcome = Literal["complete", "pruned", "failed"]


@dataclass(frozen=True)
class TrialOutcome:
    outcome: Outcome
    value: float | None
    config: TrialConfig
    reason: str | None = None


class LeaseLost(LRSearchError):
    """This worker's lease was reaped (it was presumed dead): drop the trial, record nothing."""


EpochHook = Callable[[int, Mapping[str, float]], None]


class OptunaReporter:
    """Sends the metric to Optuna after each epoch; prunes when the pruner says so.

    ``on_epoch(epoch, metrics)`` also receives each epoch (lrsearch's per-epoch table);
    ``lost()`` says whether the worker's lease was reaped, which stops the trial.
    """

    def __init__(
        self,
        trial: optuna.Trial,
        metric: str,
        on_epoch: EpochHook | None = None,
        lost: Callable[[], bool] | None = None,
        *,
        prune: bool = True,
    ) -> None:
        self.trial, self.metric = trial, metric
        self.on_epoch, self.lost = on_epoch, lost
        # NopPruner never prunes: skip the database read that asking it costs every epoch.
        # Baselines are never pruned: the report compares their whole run with the best.
        self.prunes = prune and not isinstance(trial.study.pruner, optuna.pruners.NopPruner)

    def __call__(self, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        if self.lost is not None and self.lost():
            raise LeaseLost(f"lease lost during trial {self.trial.number}")
        row = {"epoch": epoch, "step": step, **metrics}
        value = metrics[self.metric]
        retrying(lambda: self.trial.report(value, epoch), "report")
        if self.on_epoch is not None:
            hook = self.on_epoch
            retrying(lambda: hook(epoch, row), "record epoch")
        if self.prunes and retrying(self.trial.should_prune, "should_prune"):
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")


def run_trial(
    trial: optuna.Trial,
    spec: SearchSpec,
    task: TensorTask,
    device: torch.device | str,
    *,
    metric: str,
    direction: str,
    on_epoch: EpochHook | None = None,
    lost: Callable[[], bool] | None = None,
) -> TrialOutcome:
    """Train one suggested config; the trial's attributes record its schedule and config."""
    baseline = retrying(lambda: baseline_of(trial.user_attrs), "read the trial")
    config = baseline if baseline is not None else retrying(lambda: suggest(trial, spec), "suggest")
    if baseline is not None:
        note = notes.baseline_note(str(trial.user_attrs.get("baseline")), baseline)
        retrying(lambda: notes.save(trial, note), "save the baseline's note")
    for key, value in (
        ("schedule", config.schedule.to_dict()),
        ("optimizer_params", dict(config.optimizer_params)),
        ("config", config.to_dict()),
    ):
        retrying(lambda k=key, v=value: trial.set_user_attr(k, v), "set_user_attr")  # type: ignore[misc]
    reporter = OptunaReporter(trial, metric, on_epoch, lost, prune=baseline is None)
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
        return TrialOutcome("pruned", None, config)
    except TrainingDiverged as exc:
        detail = str(exc)
        retrying(lambda: trial.set_user_attr("fail_reason", "diverged"), "set_user_attr")
        retrying(lambda: trial.set_user_attr("fail_detail", detail), "set_user_attr")
        return TrialOutcome("failed", None, config, "diverged")
    return TrialOutcome("complete", result.metrics[metric], config)
