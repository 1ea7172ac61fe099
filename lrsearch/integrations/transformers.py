"""Hugging Face Trainer: the trial's optimizer and per-update schedule, and a pruning callback.

Two changes to a Trainer script (``pip install 'lrsearch[transformers]'``)::

    from lrsearch.integrations.transformers import TrialTrainer, length_arguments

    args = TrainingArguments("out", **length_arguments(trial), seed=trial.seed)
    trainer = TrialTrainer(trial, model=model, args=args, train_dataset=..., eval_dataset=...)
    trainer.train()  # raises TrialPruned when the search prunes the trial

:class:`TrialTrainer` is a ``transformers.Trainer`` whose optimizer and LR scheduler are the
trial's (``learning_rate``, ``lr_scheduler_type``, ``optim`` and the warmup arguments are not
used), with :class:`TrialCallback` added. A Trainer of your own takes ``TrialCallback(trial)``
and ``optimizers=(optimizer, trial.scheduler(optimizer, total_steps))`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from lrsearch.errors import InvalidInputError
from lrsearch.trial import Trial, TrialPruned


def length_arguments(trial: Trial, default_epochs: int | None = None) -> dict[str, Any]:
    """The ``TrainingArguments`` for the trial's budget: ``max_steps`` evaluated ``evals``
    times, or ``num_train_epochs`` evaluated after each epoch (``default_epochs`` when the
    search leaves the length to the script; the Trainer's default when that is None too)."""
    budget = trial.budget
    if budget.steps is not None:
        every = max(1, budget.steps // max(1, budget.evals))
        return {"max_steps": budget.steps, "eval_strategy": "steps", "eval_steps": every}
    epochs = budget.epochs if budget.epochs is not None else default_epochs
    length = {} if epochs is None else {"num_train_epochs": epochs}
    return {**length, "eval_strategy": "epoch"}


class TrialCallback(TrainerCallback):
    """Reports the trial's metric after each evaluation (``eval_loss`` for a metric named
    ``eval_loss`` or ``loss``) and ends a pruned trial: training stops
    (``control.should_training_stop``) and, at the end of ``train()``,
    :class:`~lrsearch.TrialPruned` propagates out of it.

    The step reported is ``state.global_step`` (optimizer updates). Under DDP every rank
    reports and rank 0 decides for all (``Trial.report``). A NaN or infinite metric fails the
    trial as diverged.
    """

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.pruned: TrialPruned | None = None
        self.training = False

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.training, self.pruned = True, None

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.pruned is not None or not self.training or metrics is None:
            return  # after a prune, or an evaluate() call outside training
        try:
            self.trial.report(state.global_step, **_named_metrics(self.trial.metric, metrics))
        except TrialPruned as exc:
            self.pruned = exc
            control.should_training_stop = True

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.training = False
        if self.pruned is not None:
            raise self.pruned


_TIMINGS = ("_runtime", "_samples_per_second", "_steps_per_second")  # not worth a column


def _named_metrics(metric: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """The evaluation's numbers but its timings, the search's metric under its own name."""
    numbers = {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and not key.endswith(_TIMINGS)
    }
    if metric not in numbers and f"eval_{metric}" in numbers:
        numbers[metric] = numbers[f"eval_{metric}"]
    if metric not in numbers:
        raise InvalidInputError(
            "metric",
            f"the Trainer's evaluation gives {', '.join(numbers) or 'nothing'}, not {metric!r}",
        )
    return numbers


class TrialTrainer(Trainer):
    """A ``transformers.Trainer`` that trains with the trial's optimizer and schedule, and
    reports each evaluation to the trial (:class:`TrialCallback`).

    The schedule spans the Trainer's own count of optimizer updates (epochs or ``max_steps``,
    gradient accumulation and devices included). ``args.weight_decay``, when set, applies as
    the Trainer applies it (not to biases and norms); otherwise the trial's optimizer
    parameters apply to every parameter.
    """

    def __init__(self, trial: Trial, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trial = trial
        self.trial_callback = TrialCallback(trial)
        self.add_callback(self.trial_callback)

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            target = self.model if model is None else model
            assert target is not None, "the Trainer has no model"
            self.optimizer = self.trial.make_optimizer(self._param_groups(target))
        return self.optimizer

    def _param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not self.args.weight_decay:
            return [{"params": [p for _, p in trainable]}]
        decay = set(self.get_decay_parameter_names(model))
        groups = [
            {
                "params": [p for n, p in trainable if n in decay],
                "weight_decay": self.args.weight_decay,
            },
            {"params": [p for n, p in trainable if n not in decay], "weight_decay": 0.0},
        ]
        return [group for group in groups if group["params"]]

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        if self.lr_scheduler is None:
            target = self.optimizer if optimizer is None else optimizer
            assert target is not None, "create_optimizer() comes first"
            scheduler = self.trial.scheduler(target, int(num_training_steps))
            self.lr_scheduler = scheduler  # type: ignore[assignment]  # declared as LambdaLR
            self._created_lr_scheduler = True  # a second train() makes it anew, as the Trainer does
        assert self.lr_scheduler is not None
        return self.lr_scheduler
