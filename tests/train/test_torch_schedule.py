"""SpecLR applies a ScheduleSpec to a real torch optimizer, once per update, and resumes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from lrsearch.errors import ScheduleError
from lrsearch.schedules import PlateauState, ScheduleSpec, curve, families
from lrsearch.train import SpecLR

STATELESS = [f.name for f in families() if not f.adaptive]


def _optimizer(groups: int = 1) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(2))]} for _ in range(groups)]
    return torch.optim.SGD(params, lr=123.0, momentum=0.9)


def _train(opt: torch.optim.Optimizer, sched: SpecLR, steps: int) -> list[float]:
    """Real optimizer updates on a quadratic; returns the LR each update used."""
    used = []
    for _ in range(steps):
        used.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        loss = sum((p - 1.0).pow(2).sum() for g in opt.param_groups for p in g["params"])
        loss.backward()
        opt.step()
        sched.step()
    return used


@pytest.mark.parametrize("family", STATELESS)
def test_each_update_uses_the_curve(family: str) -> None:
    spec = ScheduleSpec.create(family, lr=0.05, warmup_fraction=0.1, warmup_start_factor=0.2)
    opt = _optimizer()
    used = _train(opt, SpecLR(opt, spec, total_steps=97), 97)
    np.testing.assert_array_equal(used, curve(spec, 97))


def test_every_param_group_gets_the_lr_and_the_end_value_holds_past_the_budget() -> None:
    spec = ScheduleSpec.create("linear", lr=0.1, params={"final_ratio": 0.1})
    opt = _optimizer(groups=3)
    sched = SpecLR(opt, spec, total_steps=10)
    _train(opt, sched, 15)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01] * 3)
    assert sched.get_last_lr() == pytest.approx([0.01] * 3)


@pytest.mark.parametrize("family", ["cosine", "one_cycle", "cosine_restarts", "cyclic"])
def test_resume_from_state_dict_continues_on_the_same_curve(family: str) -> None:
    spec = ScheduleSpec.create(family, lr=0.1, warmup_fraction=0.05)
    opt = _optimizer()
    first = _train(opt, SpecLR(opt, spec, 200), 80)
    state = SpecLR(opt, spec, 200)
    _train(opt, state, 80)
    buffer = io.BytesIO()
    torch.save(state.state_dict(), buffer)  # small and serializable: no rendered curve inside
    buffer.seek(0)

    resumed_opt = _optimizer()
    resumed = SpecLR(resumed_opt, ScheduleSpec.create("constant", lr=9.0), 5)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    rest = _train(resumed_opt, resumed, 120)
    np.testing.assert_array_equal(first + rest, curve(spec, 200))
    assert resumed.spec == spec and resumed.total_steps == 200


def test_plateau_reduces_on_observe_and_resumes_its_state() -> None:
    spec = ScheduleSpec.create("plateau", lr=0.1, params={"patience": 1, "factor": 0.5})
    opt = _optimizer()
    sched = SpecLR(opt, spec, total_steps=100, metric_mode="max")
    for accuracy in (0.5, 0.6, 0.6, 0.6):  # two epochs without improvement > patience 1
        sched.observe(accuracy)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    saved = sched.state_dict()
    assert PlateauState.from_state_dict(saved["plateau"]).scale == 0.5

    opt2 = _optimizer()
    again = SpecLR(opt2, spec, total_steps=100, metric_mode="max")
    again.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.05)
    for accuracy in (0.6, 0.6):
        again.observe(accuracy)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.025)


def test_observe_is_ignored_by_stateless_families() -> None:
    opt = _optimizer()
    sched = SpecLR(opt, ScheduleSpec.create("constant", lr=0.1), total_steps=10)
    for value in (1.0, 1.0, 1.0, 1.0):
        sched.observe(value)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_bad_metric_mode_and_bad_state_dict_are_clear_errors() -> None:
    spec = ScheduleSpec.create("plateau", lr=0.1)
    with pytest.raises(ScheduleError, match="mode"):
        SpecLR(_optimizer(), spec, total_steps=10, metric_mode="up")
    sched = SpecLR(_optimizer(), spec, total_steps=10)
    with pytest.raises(ScheduleError, match="total_steps"):
        sched.load_state_dict({"spec": spec.to_dict(), "last_epoch": 3})
