"""Baselines: the classic schedules at the classic LR run first, unpruned, outside the space."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from optuna_dashboard._note import get_note_from_system_attrs

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.search.ledger import TrialLedger
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.space import baseline_configs
from lrsearch.space.baselines import BASELINE_FAMILIES
from lrsearch.spec import parse_spec

SpecFactory = Callable[..., dict[str, Any]]


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=store.make_optuna_storage(url))


def test_specs_run_baselines_by_default(make_spec: SpecFactory) -> None:
    data = make_spec()
    del data["baselines"]
    assert parse_spec(data).baselines is True
    assert parse_spec(make_spec(baselines=False)).baselines is False


@pytest.mark.parametrize(
    ("optimizers", "lr", "optimizer_params"),
    [(["sgd", "adam"], 0.1, {"momentum": 0.9}), (["adamw"], 1e-3, {}), (["adam"], 1e-3, {})],
)
def test_classic_lr_of_the_first_optimizer(
    make_spec: SpecFactory, optimizers: list[str], lr: float, optimizer_params: dict[str, Any]
) -> None:
    spec = parse_spec(
        make_spec(baselines=True, budget={"trials": 20}, space={"optimizers": optimizers})
    )
    configs = baseline_configs(spec)
    assert [name for name, _ in configs] == list(BASELINE_FAMILIES)
    for name, config in configs:
        assert (config.schedule.family, config.schedule.lr) == (name, lr)
        assert config.optimizer == optimizers[0]
        assert dict(config.optimizer_params) == optimizer_params
        assert config.schedule.warmup_fraction == 0.0
    poly = dict(configs)["polynomial"].schedule.params
    assert (poly["power"], poly["final_ratio"]) == (0.9, 0.0)  # "poly", not a second linear
    assert dict(configs)["step"].schedule.params == {"interval": 0.3, "gamma": 0.1}


def test_no_baselines_for_grids_or_when_off(make_spec: SpecFactory) -> None:
    assert baseline_configs(parse_spec(make_spec(search={"sampler": "grid"}))) == []
    assert baseline_configs(parse_spec(make_spec(baselines=False))) == []
    small = parse_spec(make_spec(baselines=True, budget={"trials": 3}))
    assert [name for name, _ in baseline_configs(small)] == ["constant", "step", "exponential"]


def test_baselines_are_the_first_trials(db_url: str, make_spec: SpecFactory) -> None:
    data = make_spec(
        name="base",
        baselines=True,
        budget={"trials": 9, "epochs": 3},
        # A pruner that prunes anything below the best so far after one epoch: baselines
        # must still run to the end.
        search={"sampler": "random", "seed": 0, "pruner": "successive_halving"},
        space={"families": ["cosine", "wsd"], "lr": [0.01, 0.3], "optimizers": ["sgd"]},
    )
    prepare_search(db_url, parse_spec(data))
    run_worker(db_url, "base", threads=1)
    trials = sorted(_study(db_url, "base").trials, key=lambda t: t.number)
    assert len(trials) == 9
    first, rest = trials[:7], trials[7:]
    assert [t.user_attrs["baseline"] for t in first] == list(BASELINE_FAMILIES)
    for trial in first:
        assert trial.state.name == "COMPLETE"  # never pruned
        assert trial.params == {}  # outside the space: no Optuna parameters
        assert trial.user_attrs["schedule"]["lr"] == 0.1
        assert trial.user_attrs["schedule"]["family"] == trial.user_attrs["baseline"]
        assert len(trial.intermediate_values) == 3
    for trial in rest:
        assert "baseline" not in trial.user_attrs
        assert trial.params["family"] in ("cosine", "wsd")
    # optuna-dashboard's notes say it in words, on the study and on each baseline's page.
    study = _study(db_url, "base")
    attrs = study._storage.get_study_system_attrs(study._study_id)
    study_note = get_note_from_system_attrs(attrs, None)["body"]
    assert study_note.startswith("## lrsearch: base\nTask `digits-mlp`; metric `val_accuracy`")
    assert "Baselines: trials 0 to 6 are the classic schedules (constant, step, " in study_note
    assert "at LR 0.1 with sgd(momentum=0.9)" in study_note
    note = get_note_from_system_attrs(attrs, first[1]._trial_id)["body"]
    assert note.startswith("**Baseline: step** at LR 0.1 with sgd(momentum=0.9)")


def test_a_lost_baseline_runs_again_as_a_baseline(sqlite_url: str, make_spec: SpecFactory) -> None:
    prepare_search(sqlite_url, parse_spec(make_spec(name="lost", baselines=True)))
    ledger = TrialLedger(Settings(storage_url=sqlite_url, stale_after_s=30))
    try:
        search = ledger.find("lost")
        assert search is not None
        study = _study(sqlite_url, "lost")
        lease = ledger.claim(search, "dead")
        assert lease is not None
        run = ledger.start(search, study, lease, ledger.ask(study, lease))
        assert run is not None and run.user_attrs["baseline"] == "constant"
        with ledger.engine.begin() as conn:  # its worker died a minute ago
            conn.execute(
                sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
                {"t": datetime.now(UTC) - timedelta(seconds=60), "i": lease.id},
            )
        assert ledger.reap() == 1
    finally:
        ledger.close()
    trials = _study(sqlite_url, "lost").get_trials()
    lost = next(t for t in trials if t.number == run.number)
    assert lost.state.name == "FAIL" and lost.user_attrs["fail_reason"] == "worker lost"
    again = next(t for t in trials if t.user_attrs.get("retry_of") == run.number)
    assert again.state.name == "WAITING"
    assert again.user_attrs["baseline"] == "constant"
    assert again.user_attrs["baseline_config"] == lost.user_attrs["baseline_config"]
    assert again.user_attrs["attempt"] == 2
