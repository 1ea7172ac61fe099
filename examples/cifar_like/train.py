"""A small CNN on CIFAR-like images, as a plain PyTorch script: a command trial.

The images are synthetic (3x16x16, 10 classes: each class a smooth colour pattern, every image
a randomly shifted, noisy copy), so the example runs offline in seconds. The training loop is
what a CIFAR script has: a DataLoader with random-crop and flip augmentation, bfloat16 autocast,
gradient clipping. Five lines meet lrsearch (marked ``# lrsearch``): the trial, its device, its
optimizer, its scheduler, and one report per epoch.

    lrsearch search examples/cifar_like/spec.toml --workers 2   # from the repository root
    python examples/cifar_like/train.py                         # alone: a cosine schedule
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

import lrsearch.trial
from lrsearch.schedules import ScheduleSpec

N_CLASSES, SIZE, PAD = 10, 16, 2
DATA_SEED = 0  # the data and the split never depend on the trial's seed
EPOCHS = 4  # when the search does not say


def make_images(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` images (N, 3, SIZE, SIZE) and labels: class patterns, shifted, plus noise."""
    g = torch.Generator().manual_seed(DATA_SEED)
    coarse = torch.randn(N_CLASSES, 3, 4, 4, generator=g)
    patterns = F.interpolate(coarse, size=(SIZE + 2 * PAD,) * 2, mode="bilinear")
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, N_CLASSES, (n,), generator=g)
    dx, dy = torch.randint(0, 2 * PAD + 1, (2, n), generator=g)
    images = torch.stack(
        [patterns[c, :, y : y + SIZE, x : x + SIZE] for c, x, y in zip(labels, dx, dy, strict=True)]
    )
    return images + 1.5 * torch.randn(images.shape, generator=g), labels


class Augmented(Dataset[tuple[Tensor, Tensor]]):
    """Random crop (zero padding ``PAD``) and horizontal flip, per image, per epoch."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = F.pad(images, (PAD,) * 4), labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        x, y = torch.randint(0, 2 * PAD + 1, (2,)).tolist()
        image = self.images[i, :, y : y + SIZE, x : x + SIZE]
        return (image.flip(-1) if torch.rand(()) < 0.5 else image), self.labels[i]


def make_loaders(batch_size: int = 64) -> tuple[DataLoader[tuple[Tensor, Tensor]], ...]:
    train = Augmented(*make_images(1024, seed=1))
    val = torch.utils.data.TensorDataset(*make_images(512, seed=2))
    return DataLoader(train, batch_size, shuffle=True), DataLoader(val, 256)


def make_model(width: int = 16) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, N_CLASSES),
    )


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader[tuple[Tensor, Tensor]], device: torch.device
) -> dict[str, float]:
    model.eval()
    loss, correct, n = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(images).float()
        loss += float(F.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(-1) == labels).sum())
        n += len(labels)
    return {"val_loss": loss / n, "val_accuracy": correct / n}


def train(trial: lrsearch.Trial) -> float:
    """Train with the trial's schedule; the last validation accuracy."""
    torch.manual_seed(trial.seed)
    device = torch.device(trial.device)  # lrsearch: the agent's GPU, or the CPU
    train_loader, val_loader = make_loaders()
    model = make_model().to(device)
    epochs = trial.budget.epochs or EPOCHS
    optimizer = trial.make_optimizer(model.parameters())  # lrsearch
    scheduler = trial.scheduler(optimizer, epochs * len(train_loader))  # lrsearch
    step, metrics = 0, {}
    for _ in range(epochs):
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
            optimizer.step()
            scheduler.step()
            step += 1
        metrics = evaluate(model, val_loader, device)
        trial.report(step, **metrics)  # lrsearch: raises TrialPruned when the search prunes
    return metrics["val_accuracy"] if metrics else math.nan


def standalone_trial() -> lrsearch.Trial:
    """Run alone (``python train.py``): SGD with a cosine schedule; reports are printed."""
    return lrsearch.Trial(
        number=0,
        params={},
        schedule=ScheduleSpec.create("cosine", lr=0.1),
        optimizer="sgd",
        optimizer_params={"momentum": 0.9},
        seed=0,
        budget=lrsearch.trial.TrialBudget(epochs=EPOCHS),
        metric="val_accuracy",
        direction="maximize",
    )


if __name__ == "__main__":
    try:
        trial = lrsearch.trial.current()  # lrsearch: the search's trial (a command trial)
    except lrsearch.trial.NotInTrialError:
        trial = standalone_trial()
    print(f"val_accuracy {train(trial):.4f}")
