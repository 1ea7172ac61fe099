"""The cifar_like CNN as a LightningModule: a function trial, called with the Trial.

Same data and model as examples/cifar_like (augmenting DataLoader; bfloat16 autocast and
gradient clipping are the Trainer's ``precision`` and ``gradient_clip_val``). Lightning owns the
loop; lrsearch puts the trial's optimizer and per-step scheduler in ``configure_optimizers`` and
adds one callback that reports ``val_accuracy`` after each validation and stops a pruned trial.

    lrsearch search examples/lightning/spec.toml --workers 2   # from the repository root
    python -m examples.lightning.train                         # alone: a cosine schedule
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch import Tensor
from torch.nn import functional as F

import lrsearch.trial
from examples.cifar_like.train import EPOCHS, make_loaders, make_model, standalone_trial
from lrsearch.integrations.lightning import (
    TrialCallback,
    configure_optimizers,
    device_arguments,
    length_arguments,
)


class LitCNN(pl.LightningModule):
    def __init__(self, trial: lrsearch.Trial) -> None:
        super().__init__()
        self.trial = trial
        self.model = make_model()

    def training_step(self, batch: tuple[Tensor, Tensor], index: int) -> Tensor:
        images, labels = batch
        loss = F.cross_entropy(self.model(images), labels)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], index: int) -> None:
        images, labels = batch
        logits = self.model(images).float()
        self.log("val_loss", F.cross_entropy(logits, labels))
        self.log("val_accuracy", (logits.argmax(-1) == labels).float().mean())

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizers(self.trial, self)  # lrsearch: optimizer + per-step schedule


def objective(trial: lrsearch.Trial) -> float:
    """Train with the trial's schedule; the last validation accuracy."""
    pl.seed_everything(trial.seed, verbose=False)
    train_loader, val_loader = make_loaders()
    trainer = pl.Trainer(
        **length_arguments(trial, default_epochs=EPOCHS),  # lrsearch: the trial's budget
        callbacks=[TrialCallback(trial)],  # lrsearch: reports, stops a pruned trial
        precision="bf16-mixed",
        gradient_clip_val=2.0,
        **device_arguments(trial),  # lrsearch: the agent's GPU, or the CPU
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(LitCNN(trial), train_loader, val_loader)
    return float(trainer.callback_metrics["val_accuracy"])


if __name__ == "__main__":
    try:
        trial = lrsearch.trial.current()
    except lrsearch.trial.NotInTrialError:
        trial = standalone_trial()
    print(f"val_accuracy {objective(trial):.4f}")
