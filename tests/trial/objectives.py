"""Function trials for the tests: ``tests.trial.objectives:NAME`` in a spec."""

from __future__ import annotations

import sys

import torch

import lrsearch
from lrsearch.trial import current


def regression(trial: lrsearch.Trial) -> float:
    """A tiny linear regression trained with the trial's optimizer and schedule."""
    assert current() is trial
    return _fit(trial, probe=False)


def _fit(trial: lrsearch.Trial, *, probe: bool) -> float:
    """Full-batch updates of a linear model; with ``probe``, it offers the anneal pruner its
    probe (the same full-batch update, and the loss as the evaluation)."""
    torch.manual_seed(trial.seed)
    x = torch.randn(256, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    model = torch.nn.Linear(4, 1)
    opt = trial.make_optimizer(model.parameters())
    steps = trial.budget.steps or 60
    sched = trial.scheduler(opt, steps)

    def train_step() -> torch.Tensor:
        loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            return {"val_loss": float(torch.nn.functional.mse_loss(model(x).squeeze(-1), y))}

    if probe:
        trial.set_probe(model, opt, train_step, evaluate)
    evals = trial.budget.evals
    loss = torch.zeros(())
    for step in range(steps):
        loss = train_step()
        sched.step()
        if (step + 1) % max(1, steps // evals) == 0:
            trial.report(step + 1, val_loss=float(loss.detach()))
    return float(loss.detach())


def reports_only(trial: lrsearch.Trial) -> None:
    """Returns nothing: the last report is the value."""
    trial.report(1, val_loss=2.0)
    trial.report(2, val_loss=1.5)


def never_reports(trial: lrsearch.Trial) -> None:
    """Neither returns a number nor reports."""


def diverges(trial: lrsearch.Trial) -> float:
    trial.report(1, val_loss=float("nan"))
    return 0.0


def prints(trial: lrsearch.Trial) -> float:
    """Prints as a training script does, then reports once."""
    print(f"epoch 0 of trial {trial.number}: training")
    print("a warning on stderr", file=sys.stderr)
    trial.report(10, val_loss=0.5)
    return 0.5


def regression_probed(trial: lrsearch.Trial) -> float:
    """:func:`regression`, offering the anneal pruner its probe (full-batch updates)."""
    return _fit(trial, probe=True)
