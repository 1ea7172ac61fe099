"""PyTorch Lightning: the trial's optimizer and per-update schedule, and a pruning callback.

Three additions to a LightningModule script (``pip install 'lrsearch[lightning]'``)::

    from lrsearch.integrations.lightning import (
        TrialCallback, configure_optimizers, length_arguments)

    class Model(pl.LightningModule):
        def configure_optimizers(self):
            return configure_optimizers(trial, self)  # replaces your optimizer and scheduler

    trainer = pl.Trainer(**length_arguments(trial), callbacks=[TrialCallback(trial)])
    trainer.fit(model, train_loader, val_loader)  # raises TrialPruned when the search prunes

The module logs the search's metric with ``self.log(trial.metric, value)`` in its validation
step. Works with ``lightning`` (``lightning.pytorch``) and ``pytorch_lightning``: the one your
script has imported, else whichever is installed.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lrsearch.errors import InvalidInputError
from lrsearch.trial import Trial, TrialPruned

_PACKAGES = ("lightning.pytorch", "pytorch_lightning")


def _lightning() -> ModuleType:
    """``lightning.pytorch`` or ``pytorch_lightning``: the one already imported, else installed."""
    for name in _PACKAGES:
        if name in sys.modules:
            return sys.modules[name]
    for name in _PACKAGES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(
        "lrsearch.integrations.lightning needs PyTorch Lightning: pip install 'lrsearch[lightning]'"
    )


if TYPE_CHECKING:
    import pytorch_lightning as pl
else:
    pl = _lightning()


def configure_optimizers(
    trial: Trial, module: pl.LightningModule, params: Iterable[Any] | None = None
) -> dict[str, Any]:
    """What ``LightningModule.configure_optimizers`` returns: the trial's optimizer at the
    schedule's peak LR and its scheduler, stepped after every optimizer update.

    ``params``: the module's parameters by default, or param groups (a group with its own
    ``lr`` keeps its ratio to the largest). The schedule spans the trainer's
    ``estimated_stepping_batches`` (epochs or ``max_steps``, gradient accumulation included).
    """
    optimizer = trial.make_optimizer(module.parameters() if params is None else params)
    total = module.trainer.estimated_stepping_batches
    if not math.isfinite(total) or total < 1:
        raise InvalidInputError(
            "Trainer", f"training length is {total}: give the Trainer max_epochs or max_steps"
        )
    scheduler = trial.scheduler(optimizer, int(total))
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
    }


def length_arguments(trial: Trial, default_epochs: int | None = None) -> dict[str, Any]:
    """The ``pl.Trainer`` arguments for the trial's budget: ``max_steps`` validated ``evals``
    times, or ``max_epochs`` validating after each epoch (``default_epochs`` when the search
    leaves the length to the script; nothing when that is None too)."""
    budget = trial.budget
    if budget.steps is not None:
        every = max(1, budget.steps // max(1, budget.evals))
        return {
            "max_steps": budget.steps,
            "val_check_interval": every,
            "check_val_every_n_epoch": None,
        }
    epochs = budget.epochs if budget.epochs is not None else default_epochs
    return {} if epochs is None else {"max_epochs": epochs}


def device_arguments(trial: Trial) -> dict[str, Any]:
    """The ``pl.Trainer`` arguments that train on the trial's device: the agent's GPU
    (``cuda:N`` -> that one GPU), or the CPU."""
    kind, _, index = trial.device.partition(":")
    accelerator = {"cuda": "gpu", "mps": "mps"}.get(kind, "cpu")
    return {"accelerator": accelerator, "devices": [int(index)] if index else 1}


class TrialCallback(pl.Callback):
    """Reports ``monitor`` (the trial's metric by default), with every other scalar logged,
    after each validation, and ends a pruned trial: the trainer stops (``trainer.should_stop``)
    and, once ``fit`` has wound down, :class:`~lrsearch.TrialPruned` propagates out of it.

    The step reported is ``trainer.global_step`` (optimizer updates). Under DDP every rank
    reports and rank 0 decides for all (``Trial.report``), so all ranks stop together. A NaN or
    infinite metric fails the trial as diverged (``Trial.report`` raises).
    """

    def __init__(self, trial: Trial, monitor: str | None = None) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor or trial.metric
        self.pruned: TrialPruned | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.pruned = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.pruned is not None:
            return
        logged = {key: float(v) for key, v in trainer.callback_metrics.items() if v.numel() == 1}
        if self.monitor not in logged:
            raise InvalidInputError(
                "metric",
                f"the LightningModule logs {', '.join(logged) or 'nothing'}, not "
                f"{self.monitor!r}: call self.log({self.monitor!r}, value) in validation_step",
            )
        logged[self.trial.metric] = logged[self.monitor]
        try:
            self.trial.report(trainer.global_step, **logged)
        except TrialPruned as exc:
            self.pruned = exc
            trainer.should_stop = True

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.pruned is not None:
            raise self.pruned
