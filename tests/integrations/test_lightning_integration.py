"""lrsearch.integrations.lightning with a real pl.Trainer and a Trial driven in-process."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from integutil import SCHEDULE, Recording
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lrsearch.errors import InvalidInputError, TrainingDiverged
from lrsearch.integrations.lightning import (
    TrialCallback,
    configure_optimizers,
    device_arguments,
    length_arguments,
)
from lrsearch.schedules import curve
from lrsearch.trial import Trial, TrialBudget, TrialPruned

MakeTrial = Callable[..., tuple[Trial, Recording]]
BATCHES = 4  # per epoch: 64 rows in batches of 16


class Tiny(pl.LightningModule):
    """A linear classifier; the bias learns at half the weight's LR (two param groups).
    Records each param group's LR right before every optimizer step."""

    def __init__(self, trial: Trial, logged: str = "val_loss", value: float | None = None) -> None:
        super().__init__()
        self.trial, self.logged, self.value = trial, logged, value
        self.net = nn.Linear(4, 2)
        self.lrs: list[list[float]] = []

    def training_step(self, batch: tuple[Tensor, Tensor], index: int) -> Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: tuple[Tensor, Tensor], index: int) -> None:
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log(self.logged, loss if self.value is None else torch.tensor(self.value))

    def configure_optimizers(self) -> dict[str, Any]:
        groups = [
            {"params": [self.net.weight], "lr": 1.0},
            {"params": [self.net.bias], "lr": 0.5},
        ]
        return configure_optimizers(self.trial, self, groups)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.lrs.append([group["lr"] for group in optimizer.param_groups])


def _loader() -> DataLoader[tuple[Tensor, ...]]:
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=16)


def _fit(trial: Trial, module: Tiny | None = None, **trainer_options: Any) -> pl.Trainer:
    trainer = pl.Trainer(
        **{**length_arguments(trial), **trainer_options},
        callbacks=[TrialCallback(trial)],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module or Tiny(trial), _loader(), _loader())
    return trainer


def test_every_update_follows_the_schedule_and_keeps_the_group_ratio(
    make_trial: MakeTrial,
) -> None:
    trial, reporter = make_trial(budget=TrialBudget(epochs=3))
    module = Tiny(trial)
    trainer = _fit(trial, module, accumulate_grad_batches=2)
    total = 3 * BATCHES // 2  # optimizer updates: gradient accumulation counted
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.total_steps == total == trainer.global_step
    expected = curve(SCHEDULE, total)
    assert [lrs[0] for lrs in module.lrs] == pytest.approx(expected.tolist())
    assert [lrs[1] for lrs in module.lrs] == pytest.approx((expected * 0.5).tolist())
    assert len(set(expected.round(9))) >= total - 1  # warmup, decay: hardly two alike
    assert reporter.steps == [2, 4, 6]  # after each epoch, at the update count
    assert all(math.isfinite(metrics["val_loss"]) for _, metrics in reporter.seen)


def test_a_pruned_trial_stops_training_and_raises_trial_pruned(make_trial: MakeTrial) -> None:
    trial, reporter = make_trial(prune_at=2, budget=TrialBudget(epochs=6))
    module = Tiny(trial)
    with pytest.raises(TrialPruned):
        _fit(trial, module)
    assert reporter.steps == [BATCHES, 2 * BATCHES]  # no report after the prune
    assert len(module.lrs) == 2 * BATCHES  # and no update either


def test_a_steps_budget_validates_evals_times(make_trial: MakeTrial) -> None:
    trial, reporter = make_trial(budget=TrialBudget(steps=12, evals=3))
    assert length_arguments(trial) == {
        "max_steps": 12,
        "val_check_interval": 4,
        "check_val_every_n_epoch": None,
    }
    module = Tiny(trial)
    trainer = _fit(trial, module)
    assert reporter.steps == [4, 8, 12] and trainer.global_step == 12
    assert [lrs[0] for lrs in module.lrs] == pytest.approx(curve(SCHEDULE, 12).tolist())


def test_the_default_length_applies_only_without_a_budget(make_trial: MakeTrial) -> None:
    trial, _ = make_trial(budget=TrialBudget())
    assert length_arguments(trial, default_epochs=5) == {"max_epochs": 5}
    assert length_arguments(trial) == {}
    trial, _ = make_trial(budget=TrialBudget(epochs=2))
    assert length_arguments(trial, default_epochs=5) == {"max_epochs": 2}


def test_a_metric_the_module_does_not_log_is_named(make_trial: MakeTrial) -> None:
    trial, _ = make_trial()
    with pytest.raises(InvalidInputError, match=r"logs loss, not 'val_loss'.*self\.log"):
        _fit(trial, Tiny(trial, logged="loss"))


def test_a_monitor_of_another_name_is_reported_as_the_trials_metric(
    make_trial: MakeTrial,
) -> None:
    trial, reporter = make_trial(budget=TrialBudget(epochs=1))
    trainer = pl.Trainer(
        max_epochs=1,
        callbacks=[TrialCallback(trial, monitor="loss")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(trial, logged="loss"), _loader(), _loader())
    ((_, metrics),) = reporter.seen
    assert metrics["val_loss"] == metrics["loss"]


def test_a_nan_metric_fails_the_trial_as_diverged(make_trial: MakeTrial) -> None:
    trial, _ = make_trial()
    with pytest.raises(TrainingDiverged):
        _fit(trial, Tiny(trial, value=math.nan))


def test_importing_the_integrations_package_imports_no_framework() -> None:
    code = (
        "import sys, lrsearch.integrations; "
        "print([m for m in ('lightning', 'pytorch_lightning', 'transformers', 'torch') "
        "if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("cpu", {"accelerator": "cpu", "devices": 1}),
        ("cuda", {"accelerator": "gpu", "devices": 1}),
        ("cuda:1", {"accelerator": "gpu", "devices": [1]}),
        ("mps", {"accelerator": "mps", "devices": 1}),
    ],
)
def test_the_trainer_trains_on_the_trials_device(
    make_trial: MakeTrial, device: str, expected: dict[str, Any]
) -> None:
    trial, _ = make_trial(device=device)
    assert device_arguments(trial) == expected
    if device == "cpu":  # the arguments a real Trainer takes
        trainer = pl.Trainer(**device_arguments(trial), logger=False, enable_progress_bar=False)
        assert trainer.strategy.root_device == torch.device("cpu")
