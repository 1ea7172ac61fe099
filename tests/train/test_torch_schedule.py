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


# Param groups keep their LR ratios, as with torch's own schedulers: the group(s) with the
# largest initial LR follow the curve, the others the same share of it at every step.


def _two_groups(head: float, backbone: float) -> torch.optim.Optimizer:
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros(2))]},
        {"params": [torch.nn.Parameter(torch.zeros(2))], "lr": backbone},
    ]
    return torch.optim.SGD(groups, lr=head, momentum=0.9)


def _train_groups(opt: torch.optim.Optimizer, sched: SpecLR, steps: int) -> list[list[float]]:
    """Like _train, for every group: the LRs each update used, one list per update."""
    used = []
    for _ in range(steps):
        used.append([group["lr"] for group in opt.param_groups])
        _train(opt, sched, 1)
    return used


@pytest.mark.parametrize("family", ["cosine", "step", "one_cycle", "cyclic", "wsd"])
def test_param_groups_keep_their_ratio_at_every_step(family: str) -> None:
    spec = ScheduleSpec.create(family, lr=0.05, warmup_fraction=0.1, warmup_start_factor=0.2)
    opt = _two_groups(head=3.0, backbone=0.75)  # the backbone at a quarter of the head
    sched = SpecLR(opt, spec, total_steps=97)
    assert sched.base_lrs == [0.05, 0.0125]  # each group's peak, as torch's base_lrs
    used = np.asarray(_train_groups(opt, sched, 97))
    np.testing.assert_array_equal(used[:, 0], curve(spec, 97))  # the largest: the curve
    np.testing.assert_allclose(used[:, 1], 0.25 * curve(spec, 97), rtol=1e-15)
    head, backbone = sched.get_last_lr()  # past the end: the same ratio
    assert backbone == pytest.approx(0.25 * head, rel=1e-15)


def test_plateau_reductions_keep_the_ratio_and_resume_with_it() -> None:
    spec = ScheduleSpec.create("plateau", lr=0.1, params={"patience": 0, "factor": 0.5})
    opt = _two_groups(head=0.01, backbone=0.1)  # here the second group is the largest
    sched = SpecLR(opt, spec, total_steps=100)
    sched.observe(1.0)
    sched.observe(1.0)  # no improvement, patience 0: reduce at once
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.005, 0.05])
    assert sched.get_last_lr() == pytest.approx([0.005, 0.05])
    _train(opt, sched, 3)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.005, 0.05])

    resumed_opt = _two_groups(head=123.0, backbone=123.0)  # made afresh, groups equal
    resumed = SpecLR(resumed_opt, ScheduleSpec.create("constant", lr=9.0), 5)
    resumed.load_state_dict(sched.state_dict())
    assert [g["lr"] for g in resumed_opt.param_groups] == pytest.approx([0.005, 0.05])
    assert [g["initial_lr"] for g in resumed_opt.param_groups] == pytest.approx([0.01, 0.1])


def test_resume_keeps_the_ratio_on_the_curve() -> None:
    spec = ScheduleSpec.create("cosine", lr=0.1, warmup_fraction=0.05)
    opt = _two_groups(head=1.0, backbone=0.5)
    sched = SpecLR(opt, spec, 200)
    first = _train_groups(opt, sched, 80)
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    resumed_opt = _two_groups(head=1.0, backbone=1.0)
    resumed = SpecLR(resumed_opt, spec, 200)
    resumed_opt.load_state_dict(saved["opt"])
    resumed.load_state_dict(saved["sched"])
    used = np.asarray(first + _train_groups(resumed_opt, resumed, 120))
    np.testing.assert_array_equal(used[:, 0], curve(spec, 200))
    np.testing.assert_allclose(used[:, 1], 0.5 * curve(spec, 200), rtol=1e-15)


def test_ratios_come_from_initial_lr_and_groups_at_zero() -> None:
    spec = ScheduleSpec.create("linear", lr=0.1, params={"final_ratio": 0.5})
    opt = _two_groups(head=0.02, backbone=0.001)  # decayed LRs of a loaded optimizer state
    for group, initial in zip(opt.param_groups, (0.2, 0.1), strict=True):
        group["initial_lr"] = initial
    SpecLR(opt, spec, total_steps=10)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.05])

    frozen = _two_groups(head=1.0, backbone=0.0)  # a group at 0 stays at 0
    SpecLR(frozen, spec, total_steps=10)
    assert [g["lr"] for g in frozen.param_groups] == [pytest.approx(0.1), 0.0]
    at_zero = _two_groups(head=0.0, backbone=0.0)  # all at 0: all follow the curve
    SpecLR(at_zero, spec, total_steps=10)
    assert [g["lr"] for g in at_zero.param_groups] == pytest.approx([0.1, 0.1])


def test_a_state_dict_for_other_param_groups_is_a_clear_error() -> None:
    spec = ScheduleSpec.create("cosine", lr=0.1)
    saved = SpecLR(_two_groups(1.0, 0.5), spec, total_steps=10).state_dict()
    with pytest.raises(ScheduleError, match="2 param groups: the optimizer has 1"):
        SpecLR(_optimizer(), spec, total_steps=10).load_state_dict(saved)
