"""The training that benchmarks/trial_bench.py runs both as a function trial and as a command.

``fit(trial)``: an MLP on synthetic data with the trial's optimizer and schedule, reporting
``budget.evals`` times. As a script (a command trial) it takes its trial from the channel.
Also ``python trial_training.py --reports N``: N reports as fast as possible, timing each
round trip, printed as JSON (the channel's latency, seen from the child).
"""

from __future__ import annotations

import json
import sys
import time

import torch

import lrsearch
import lrsearch.trial

WIDTH = 256


def fit(trial: lrsearch.Trial) -> float:
    torch.set_num_threads(1)
    torch.manual_seed(trial.seed)
    x = torch.randn(4096, 32)
    y = torch.sin(x.sum(dim=1, keepdim=True))
    model = torch.nn.Sequential(
        torch.nn.Linear(32, WIDTH), torch.nn.ReLU(), torch.nn.Linear(WIDTH, 1)
    )
    steps = trial.budget.steps or 1000
    opt = trial.make_optimizer(model.parameters())
    sched = trial.scheduler(opt, steps)
    every = max(1, steps // trial.budget.evals)
    loss = torch.zeros(())
    for step in range(steps):
        batch = torch.randint(0, len(x), (128,))
        loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
        if (step + 1) % every == 0:
            with torch.no_grad():
                val = float(torch.nn.functional.mse_loss(model(x[:512]), y[:512]))
            trial.report(step + 1, val_loss=val)
    return float(loss.detach())


def time_reports(trial: lrsearch.Trial, n: int) -> list[float]:
    """Seconds per ``trial.report`` round trip, ``n`` times (values that never prune)."""
    times = []
    for i in range(n):
        started = time.perf_counter()
        trial.report(i, val_loss=1.0 / (i + 1))
        times.append(time.perf_counter() - started)
    return times


def standalone_trial(steps: int) -> lrsearch.Trial:
    """The benchmark's trial without any worker: reports printed (``lrsearch run``'s way)."""
    from lrsearch.schedules import ScheduleSpec
    from lrsearch.trial import TrialBudget

    return lrsearch.Trial(
        number=0,
        params={},
        schedule=ScheduleSpec.create("cosine", lr=0.01),
        optimizer="adamw",
        optimizer_params={},
        seed=0,
        budget=TrialBudget(steps=steps, evals=10),
        metric="val_loss",
        direction="minimize",
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--standalone":  # a fresh process, no channel
        started = time.perf_counter()
        fit(standalone_trial(int(sys.argv[2])))
        print(json.dumps({"fit_s": time.perf_counter() - started}))
        raise SystemExit(0)
    trial = lrsearch.trial.current()
    if len(sys.argv) > 2 and sys.argv[1] == "--reports":
        print(json.dumps({"report_s": time_reports(trial, int(sys.argv[2]))}))
    else:
        started = time.perf_counter()
        fit(trial)
        print(json.dumps({"fit_s": time.perf_counter() - started}))
