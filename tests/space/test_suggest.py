"""The conditional space: every family reachable, readable names, valid configs, the grid."""

from __future__ import annotations

import warnings

import optuna
import pytest

from lrsearch.schedules import ScheduleSpec, family_names, get_family
from lrsearch.space import TrialConfig, grid_space, suggest
from lrsearch.spec import parse_spec


def _study(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(sampler=sampler)


def test_every_family_is_reachable_and_yields_a_valid_spec() -> None:
    spec = parse_spec({"name": "a", "task": "digits-mlp"})
    study = _study(optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(300):
        trial = study.ask()
        config = suggest(trial, spec)
        seen.add(config.schedule.family)
        assert ScheduleSpec.from_json(config.schedule.to_json()) == config.schedule
        for name in trial.params:  # stable, readable names
            assert name in ("family", "lr", "optimizer", "warmup_fraction") or name.startswith(
                config.schedule.family + "."
            )
        study.tell(trial, 0.0)
    assert seen == set(family_names())


def test_tpe_with_groups_handles_the_conditional_space() -> None:
    spec = parse_spec({"name": "a", "task": "digits-mlp", "search": {"startup_trials": 3}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=0, multivariate=True, group=True, n_startup_trials=3
        )
    study = _study(sampler)
    for _ in range(25):
        trial = study.ask()
        config = suggest(trial, spec)
        study.tell(trial, config.schedule.lr)
    assert len(study.trials) == 25


def test_narrowed_and_fixed_parameters_are_respected() -> None:
    spec = parse_spec(
        {
            "name": "a",
            "task": "digits-mlp",
            "space": {
                "families": ["step", "multistep", "piecewise_constant", "cyclic"],
                "lr": [0.05, 0.05],
                "warmup": [0.0, 0.0],
                "params": {
                    "step": {"gamma": [0.3, 0.4], "interval": 0.25},
                    "multistep": {"milestones": [0.3, 0.6]},
                    "cyclic": {"mode": ["exp_range"]},
                },
            },
        }
    )
    study = _study(optuna.samplers.RandomSampler(seed=3))
    for _ in range(80):
        trial = study.ask()
        schedule = suggest(trial, spec).schedule
        assert schedule.lr == pytest.approx(0.05) and schedule.warmup_fraction == 0.0
        if schedule.family == "step":
            assert 0.3 <= schedule.params["gamma"] <= 0.4
            assert schedule.params["interval"] == 0.25
        if schedule.family == "multistep":
            assert schedule.params["milestones"] == (0.3, 0.6)
        if schedule.family == "piecewise_constant":
            bounds, factors = schedule.params["boundaries"], schedule.params["factors"]
            assert isinstance(bounds, tuple) and isinstance(factors, tuple)
            assert len(factors) == len(bounds) + 1 and factors[0] == 1.0
        if schedule.family == "cyclic":
            assert schedule.params["mode"] == "exp_range"
        study.tell(trial, 0.0)


def test_grid_is_the_classic_log_lr_grid_per_family() -> None:
    spec = parse_spec(
        {
            "name": "a",
            "task": "digits-mlp",
            "search": {"sampler": "grid"},
            "space": {"families": ["constant", "cosine"], "lr": [1e-3, 0.1], "optimizers": ["sgd"]},
        }
    )
    grid = grid_space(spec)
    assert grid == {
        "family": ["constant", "cosine"],
        "lr": [0.001, 0.003, 0.01, 0.03, 0.1],
        "optimizer": ["sgd"],
    }
    study = _study(optuna.samplers.GridSampler(grid, seed=0))
    combos = set()
    for _ in range(9):  # the 10th tell would call study.stop(), legal only inside optimize()
        trial = study.ask()
        config = suggest(trial, spec)
        assert config.schedule.params == get_family(config.schedule.family).defaults
        combos.add((config.schedule.family, config.schedule.lr))
        study.tell(trial, 0.0)
    assert len(combos) == 9


def test_trial_config_round_trips() -> None:
    spec = parse_spec({"name": "a", "task": "digits-mlp"})
    trial = _study(optuna.samplers.RandomSampler(seed=0)).ask()
    config = suggest(trial, spec)
    assert TrialConfig.from_dict(config.to_dict()) == config
