"""The Trial API on its own: optimizer, scheduler, report, pruning, divergence, current()."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Mapping

import pytest
import torch

import lrsearch
from lrsearch.errors import InvalidInputError, TrainingDiverged
from lrsearch.schedules import ScheduleSpec, curve
from lrsearch.trial import NotInTrialError, Trial, TrialBudget, TrialPruned, activated, current


class Recording:
    def __init__(self, prune_at: int | None = None) -> None:
        self.seen: list[tuple[int, dict[str, float]]] = []
        self.prune_at = prune_at

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        self.seen.append((step, dict(metrics)))
        return self.prune_at is not None and len(self.seen) > self.prune_at


def _trial(schedule: ScheduleSpec, reporter: Recording | None = None, **kw: object) -> Trial:
    options: dict[str, object] = {
        "number": 3,
        "params": {"lr": schedule.lr},
        "schedule": schedule,
        "optimizer": "sgd",
        "optimizer_params": {"momentum": 0.9},
        "seed": 1,
        "budget": TrialBudget(epochs=2),
        "metric": "val_loss",
        "direction": "minimize",
        "reporter": reporter,
    }
    options.update(kw)
    return Trial(**options)  # type: ignore[arg-type]


def test_exported_from_lrsearch() -> None:
    assert lrsearch.Trial is Trial and lrsearch.TrialPruned is TrialPruned
    assert issubclass(TrialPruned, Exception)


def test_optimizer_and_scheduler_follow_the_schedule_with_group_ratios() -> None:
    spec = ScheduleSpec.create("cosine", lr=0.2)
    trial = _trial(spec)
    big, small = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = trial.make_optimizer([{"params": [big], "lr": 1.0}, {"params": [small], "lr": 0.25}])
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2, 0.05])
    sched = trial.scheduler(opt, total_steps=20)
    expected = curve(spec, 20)
    for step in range(20):
        assert opt.param_groups[0]["lr"] == pytest.approx(expected[step])
        assert opt.param_groups[1]["lr"] == pytest.approx(expected[step] * 0.25)
        opt.step()
        sched.step()


def test_report_goes_to_the_reporter_and_prunes() -> None:
    reporter = Recording(prune_at=1)
    trial = _trial(ScheduleSpec.create("constant", lr=0.1), reporter)
    trial.report(10, val_loss=1.5, acc=0.5)
    with pytest.raises(TrialPruned):
        trial.report(20, val_loss=1.2)
    assert reporter.seen == [(10, {"val_loss": 1.5, "acc": 0.5}), (20, {"val_loss": 1.2})]
    assert trial.last_value == 1.2


def test_a_non_finite_metric_diverges_after_the_backend_saw_it() -> None:
    reporter = Recording()
    trial = _trial(ScheduleSpec.create("constant", lr=0.1), reporter)
    with pytest.raises(TrainingDiverged, match="val_loss is nan"):
        trial.report(1, val_loss=math.nan)
    assert math.isnan(reporter.seen[0][1]["val_loss"])


def test_report_without_the_metric_names_it() -> None:
    trial = _trial(ScheduleSpec.create("constant", lr=0.1), Recording())
    with pytest.raises(InvalidInputError, match=r"metrics: .*'val_loss'"):
        trial.report(1, loss=1.0)


def test_report_feeds_plateau() -> None:
    spec = ScheduleSpec.create("plateau", lr=1.0, params={"patience": 0, "factor": 0.5})
    trial = _trial(spec, Recording())
    opt = trial.make_optimizer([torch.zeros(1, requires_grad=True)])
    trial.scheduler(opt, total_steps=10)
    trial.report(1, val_loss=1.0)
    trial.report(2, val_loss=1.0)  # no improvement: halve
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)


def test_current_inside_and_outside_a_trial() -> None:
    trial = _trial(ScheduleSpec.create("constant", lr=0.1))
    with activated(trial):
        assert current() is trial
    code = (
        "import lrsearch.trial as t\n"
        "try:\n    t.current()\nexcept t.NotInTrialError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={})
    assert "not inside a trial" in out.stdout
    assert NotInTrialError.__name__ == "NotInTrialError"


def test_describe_round_trips(tmp_path: object) -> None:
    trial = _trial(ScheduleSpec.create("cosine", lr=0.1, warmup_fraction=0.1), workdir=tmp_path)
    again = Trial.from_description(trial.describe())
    assert again.describe() == trial.describe()
    assert again.schedule == trial.schedule and again.budget == trial.budget
