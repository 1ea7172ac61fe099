"""Anneal probes on the trial's side: the Trial API, the built-in loop, whole searches.

A probe (``Trial.set_probe``, run by ``trial.report()`` at the plan's rungs) must leave the
training it interrupts exactly as it found it, and reports carry ``probe_value`` and the
cumulative ``probe_updates`` at the probe rungs only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import torch

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.local import prepare_search
from lrsearch.search.pruning import NO_PROBE_BELOW, PROBE_SHARE, probe_rungs
from lrsearch.search.worker import Worker, run_worker
from lrsearch.spec import parse_spec
from lrsearch.store.models import epoch_metrics
from lrsearch.tasks.registry import load_task
from lrsearch.train.loop import run_task
from lrsearch.train.task import TensorTask
from lrsearch.trial import Trial, TrialBudget
from lrsearch.trial.probe import ProbeHooks, ProbePlan
from lrsearch.trial.torch_ops import anneal_probe
from tests.trial.test_command_trials import trials_of

PROBES = ("probe_value", "probe_updates")


class Recording:
    """A reporter that keeps every report and never prunes."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, float]]] = []

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        self.seen.append((step, dict(metrics)))
        return False


def _trial(
    schedule: ScheduleSpec,
    reporter: Recording,
    probe: ProbePlan | None,
    budget: TrialBudget | None = None,
    optimizer: str = "sgd",
) -> Trial:
    return Trial(
        number=5,
        params={},
        schedule=schedule,
        optimizer=optimizer,
        optimizer_params={"momentum": 0.9} if optimizer == "sgd" else {},
        seed=3,
        budget=budget or TrialBudget(epochs=4),
        metric="val_loss",
        direction="minimize",
        reporter=reporter,
        probe=probe,
    )


# --------------------------------------------------------------------------- built-in loop


def test_the_built_in_loop_probes_without_changing_training() -> None:
    task = load_task("digits-mlp", {"hidden": 16})
    cosine = ScheduleSpec.create("cosine", lr=0.2)
    plain, probed = Recording(), Recording()
    six = TrialBudget(epochs=6)
    run_task(task, _trial(cosine, plain, None, six))
    run_task(task, _trial(cosine, probed, ProbePlan((1, 3), 0.1), six))
    assert len(plain.seen) == len(probed.seen) == 6
    per_epoch = -(-len(task.x_train) // task.batch_size)
    updates = ProbePlan((1, 3), 0.1).updates(6 * per_epoch)
    assert updates > 1
    for index, ((step, raw), (probe_step, metrics)) in enumerate(
        zip(plain.seen, probed.seen, strict=True)
    ):
        assert step == probe_step
        assert not set(PROBES) & set(raw)
        same = {k: v for k, v in metrics.items() if k not in PROBES}
        assert same.keys() == raw.keys()
        for key in raw.keys() - {"seconds"}:  # bit-identical, not approximately equal
            assert same[key] == raw[key], (index, key)
        if index in (1, 3):
            assert metrics["probe_value"] != metrics["val_loss"]
            assert metrics["probe_updates"] == updates * (1 if index == 1 else 2)
        else:
            assert not set(PROBES) & set(metrics), index


# --------------------------------------------------------------------------- anneal_probe


def test_anneal_probe_puts_back_weights_optimizer_state_lrs_and_rng() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    params = list(model.parameters())
    opt = torch.optim.Adam(
        [{"params": params[:2], "lr": 0.01}, {"params": params[2:], "lr": 0.005}]
    )

    def step() -> None:
        x = torch.randn(16, 4)  # draws from the global RNG, as would dropout and shuffling
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), x[:, :1]).backward()
        opt.step()

    for _ in range(3):
        step()
    model.eval()  # a report comes after validation: put back in this mode
    weights = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(opt.state_dict()["state"])
    rng = torch.get_rng_state()
    lrs_seen: list[list[float]] = []
    during: dict[str, bool] = {}

    def probe_step() -> None:
        lrs_seen.append([group["lr"] for group in opt.param_groups])
        step()

    def evaluate() -> dict[str, float]:
        during["moved"] = not torch.equal(model[0].weight, weights["0.weight"])
        during["state"] = not torch.equal(opt.state[params[0]]["exp_avg"], state[0]["exp_avg"])
        return {"val_loss": 0.25}

    hooks = ProbeHooks(model, opt, probe_step, evaluate)
    assert anneal_probe(hooks, 4, 0.1, "val_loss") == 0.25
    assert during == {"moved": True, "state": True}  # the probe did train
    # The LR falls linearly to end_scale x the LR, per group, the last update at the end.
    falls = (0.775, 0.55, 0.325, 0.1)
    assert [lr for lrs in lrs_seen for lr in lrs] == pytest.approx(
        [lr for f in falls for lr in (0.01 * f, 0.005 * f)]
    )
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[key]), key
    after = opt.state_dict()["state"]
    assert after.keys() == state.keys()
    for index, saved in state.items():
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(after[index][key], saved[key]), (index, key)
    assert [group["lr"] for group in opt.param_groups] == [0.01, 0.005]
    assert torch.equal(torch.get_rng_state(), rng)
    assert not model.training
    # Training goes on exactly as if no probe had been: compare with a copy that never probed.
    torch.set_rng_state(rng)
    expected = torch.randn(3)
    torch.set_rng_state(rng)
    assert torch.equal(torch.randn(3), expected)


# --------------------------------------------------------------------------- the Trial API


def _manual(trial: Trial, *, offer: bool, fail: bool = False) -> None:
    """Six reports of a tiny regression, with (``offer``) or without a probe."""
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x.sum(dim=1, keepdim=True)
    model = torch.nn.Linear(3, 1)
    opt = trial.make_optimizer(model.parameters())
    sched = trial.scheduler(opt, 60)

    def update() -> None:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    def probe_step() -> None:
        if fail:
            raise RuntimeError("no probe batch")
        update()

    def evaluate() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(model(x), y))

    if offer:
        trial.set_probe(model, opt, probe_step, evaluate)
    for step in range(1, 61):
        update()
        sched.step()
        if step % 10 == 0:
            trial.report(step, val_loss=evaluate())


def test_a_failing_probe_is_said_once_and_the_trial_goes_on_without_probes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reporter = Recording()
    trial = _trial(ScheduleSpec.create("cosine", lr=0.05), reporter, ProbePlan((1, 3), 0.1))
    _manual(trial, offer=True, fail=True)
    assert len(reporter.seen) == 6
    assert all(not set(PROBES) & set(metrics) for _, metrics in reporter.seen)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "trial 5: the anneal probe failed (RuntimeError: no probe batch)" in lines[0]
    assert trial.probe_updates == 0


def test_a_trial_that_offers_no_probe_reports_no_probe_value() -> None:
    reporter = Recording()
    trial = _trial(ScheduleSpec.create("cosine", lr=0.05), reporter, ProbePlan((1, 3), 0.1))
    _manual(trial, offer=False)
    assert len(reporter.seen) == 6
    assert all(not set(PROBES) & set(metrics) for _, metrics in reporter.seen)
    # The same code offering one is probed at the plan's rungs (the test above can fail).
    offered = Recording()
    again = _trial(ScheduleSpec.create("cosine", lr=0.05), offered, ProbePlan((1, 3), 0.1))
    _manual(again, offer=True)
    assert [i for i, (_, m) in enumerate(offered.seen) if "probe_value" in m] == [1, 3]
    assert [m["probe_updates"] for _, m in offered.seen if "probe_updates" in m] == [6.0, 12.0]


def test_a_constant_schedule_is_not_probed() -> None:
    reporter = Recording()
    trial = _trial(ScheduleSpec.create("constant", lr=0.05), reporter, ProbePlan((1, 3), 0.1))
    _manual(trial, offer=True)
    assert all(not set(PROBES) & set(metrics) for _, metrics in reporter.seen)


def test_the_description_keeps_the_probe_plan(tmp_path: Path) -> None:
    plan = ProbePlan((2, 5), PROBE_SHARE)
    trial = _trial(ScheduleSpec.create("wsd", lr=0.1), Recording(), plan)
    again = Trial.from_description(trial.describe())
    assert again.probe == plan and isinstance(again.probe.rungs, tuple)
    assert again.describe() == trial.describe()
    plain = Trial.from_description(_trial(trial.schedule, Recording(), None).describe())
    assert plain.probe is None


# --------------------------------------------------------------------------- whole searches


def _epoch_rows(url: str) -> list[Any]:
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            m = epoch_metrics.c
            return list(
                conn.execute(
                    sa.select(m.trial_number, m.epoch, m.value, m.decay_left, m.probe_value)
                )
            )
    finally:
        engine.dispose()


def test_a_search_with_the_anneal_pruner_probes_and_prunes(sqlite_url: str) -> None:
    data = {
        "name": "annealed",
        "task": "digits-mlp",
        "task_options": {"hidden": 16},
        "budget": {"trials": 12, "epochs": 6},
        "search": {"sampler": "random", "seed": 1, "pruner": "anneal", "startup_trials": 3},
        "space": {
            "families": ["constant", "cosine", "wsd"],
            "lr": [1e-4, 1.0],
            "optimizers": ["sgd"],
        },
        "baselines": False,
    }
    prepare_search(sqlite_url, parse_spec(data))
    summary = run_worker(sqlite_url, "annealed", threads=1)
    assert summary.complete + summary.pruned + summary.failed == 12
    assert summary.pruned >= 1
    rungs = probe_rungs(6)
    assert rungs == (1, 3)
    rows = _epoch_rows(sqlite_url)
    assert rows and all(r.decay_left is not None for r in rows)
    _check_annealed_values(rows, rungs)
    probe_rows = [r for r in rows if r.epoch in rungs]
    assert probe_rows and all(r.probe_value is not None for r in probe_rows)
    trials = {t.number: t for t in trials_of(sqlite_url, "annealed")}
    probed = {r.trial_number for r in probe_rows if r.decay_left >= 0.5}  # a decay to probe
    assert probed
    for number in probed:
        attrs = trials[number].user_attrs
        assert attrs.get("probe_updates", 0) >= 1, (number, attrs)
    for t in trials.values():  # constant trials have no decay to probe
        if t.user_attrs["schedule"]["family"] == "constant":
            assert "probe_updates" not in t.user_attrs


def _check_annealed_values(rows: list[Any], rungs: tuple[int, ...]) -> None:
    """Nothing left to decay: the value is the annealed value; before the first probe rung,
    with decay left, no annealed value; from the first probe rung on, one (measured at probe
    rungs, estimated in between) for every trial that probed."""
    first = min(rungs)
    for r in rows:
        if r.decay_left < NO_PROBE_BELOW:
            assert r.probe_value == r.value, r
        elif r.epoch < first:
            assert r.probe_value is None, r
    probed = {r.trial_number for r in rows if r.epoch == first and r.probe_value is not None}
    later = [r for r in rows if r.trial_number in probed and r.epoch > first]
    assert later and all(r.probe_value is not None for r in later)


def _function_search(tmp_path: Path, function: str) -> tuple[str, list[Any]]:
    url = f"sqlite:///{tmp_path / f'{function}.sqlite'}"
    spec: dict[str, Any] = {
        "name": "fp",
        "objective": f"tests.trial.objectives:{function}",
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 6, "steps": 60, "evals": 6},
        "search": {"sampler": "random", "seed": 2, "pruner": "anneal", "startup_trials": 2},
        "space": {"families": ["cosine", "linear"], "lr": [0.001, 0.1], "optimizers": ["sgd"]},
        "baselines": False,
    }
    settings = Settings(storage_url=url, runs_dir=str(tmp_path / "runs"))
    prepare_search(settings, parse_spec(spec))
    Worker(url, study="fp", settings=settings, threads=1).run()
    return url, trials_of(url, "fp")


def test_a_function_trial_that_offers_a_probe_gets_probe_values(tmp_path: Path) -> None:
    url, trials = _function_search(tmp_path, "regression_probed")
    assert len(trials) == 6 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    rows = _epoch_rows(url)
    at_rungs = [r for r in rows if r.epoch in (1, 3)]
    assert at_rungs and all(r.probe_value is not None for r in at_rungs)
    _check_annealed_values(rows, (1, 3))
    assert all(t.user_attrs.get("probe_updates", 0) >= 2 for t in trials)  # 2 x 1 update


def test_a_function_trial_without_a_probe_runs_on_the_fallback(tmp_path: Path) -> None:
    url, trials = _function_search(tmp_path, "regression")
    assert len(trials) == 6 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert any(t.state.name == "COMPLETE" and len(t.intermediate_values) == 6 for t in trials)
    rows = _epoch_rows(url)
    assert all(r.decay_left is not None for r in rows)
    # No probe ever: an annealed value only where nothing is left to decay (the value itself).
    left = [r for r in rows if r.decay_left >= NO_PROBE_BELOW]
    assert left and all(r.probe_value is None for r in left)
    assert all(r.probe_value == r.value for r in rows if r.decay_left < NO_PROBE_BELOW)
    assert all("probe_updates" not in t.user_attrs for t in trials)


class _ModeRecorder(torch.nn.Module):
    """A linear model that notes its train/eval mode in every forward made with gradients
    (the loop's updates and the probe's, never the validations: those run under no_grad)."""

    def __init__(self, modes: list[bool]) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)
        self.modes = modes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.modes.append(self.training)
        return self.linear(x)  # type: ignore[no-any-return]


def test_the_built_in_loops_probe_trains_in_train_mode() -> None:
    digits = load_task("digits-mlp", {"hidden": 16})
    modes: list[bool] = []
    task = TensorTask(
        "modes",
        lambda: _ModeRecorder(modes),
        digits.x_train,
        digits.y_train,
        digits.x_val,
        digits.y_val,
        digits.loss,
        batch_size=digits.batch_size,
    )
    plan = ProbePlan((1, 3), 0.1)
    cosine = ScheduleSpec.create("cosine", lr=0.1)
    run_task(task, _trial(cosine, Recording(), plan, TrialBudget(epochs=6)))
    per_epoch = -(-len(task.x_train) // task.batch_size)
    assert len(modes) == 6 * per_epoch + 2 * plan.updates(6 * per_epoch)  # the probes ran
    assert all(modes), f"{modes.count(False)} of {len(modes)} updates in eval mode"
