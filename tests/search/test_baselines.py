"""Baselines: the classic schedules after the search, at its tuned LR, unpruned, outside the
space, on slots of their own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from optuna_dashboard._note import get_note_from_system_attrs

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.ledger import TrialLedger
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.service import Backend
from lrsearch.service.export import best_config
from lrsearch.space import baseline_configs, baseline_count, tuned_baseline_configs
from lrsearch.space.baselines import BASELINE_FAMILIES
from lrsearch.spec import parse_spec
from lrsearch.store import Outcome
from tests.search.searchutil import read_search

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
    assert baseline_count(small) == 7  # slots of their own: a small budget runs them all


def test_tuned_baselines_keep_all_but_the_decay_of_the_tuned_best(make_spec: SpecFactory) -> None:
    spec = parse_spec(make_spec(baselines=True))
    tuned = {
        "schedule": ScheduleSpec.create("wsd", 0.03, warmup_fraction=0.05).to_dict(),
        "optimizer": "adamw",
        "optimizer_params": {"weight_decay": 0.05},
        "seed": 11,
        "trial_number": 4,  # lr_best's config carries it; it is not part of a TrialConfig
    }
    configs = tuned_baseline_configs(spec, tuned)
    assert [name for name, _ in configs] == list(BASELINE_FAMILIES)
    for name, config in configs:
        assert (config.schedule.family, config.schedule.lr) == (name, 0.03)
        assert config.schedule.warmup_fraction == 0.05
        assert (config.optimizer, dict(config.optimizer_params)) == (
            "adamw",
            {"weight_decay": 0.05},
        )
        assert config.seed == 11  # the tuned best's seed: only the schedule differs
    assert tuned_baseline_configs(spec, None) == baseline_configs(spec)  # none completed


def _finish_searched(ledger: TrialLedger, name: str, url: str, value: float) -> int:
    """Claim, ask, start and complete one searched trial through the ledger; its number."""
    search = ledger.find(name)
    assert search is not None
    study = _study(url, name)
    lease = ledger.claim(search, "w")
    assert lease is not None
    run = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert run is not None and not run.baseline
    config = baseline_configs(parse_spec(search.spec))[6][1].to_dict()  # any valid config
    assert ledger.finish(run, Outcome.COMPLETE, value=value, config=config)
    return run.number


def test_baselines_run_after_the_search_at_its_tuned_lr(
    db_url: str, make_spec: SpecFactory
) -> None:
    data = make_spec(
        name="base",
        baselines=True,
        budget={"trials": 3, "epochs": 3},
        # A pruner that prunes anything below the best so far after one epoch: baselines
        # must still run to the end.
        search={"sampler": "random", "seed": 0, "pruner": "successive_halving"},
        space={"families": ["cosine", "wsd"], "lr": [0.01, 0.3], "optimizers": ["sgd"]},
    )
    prepare_search(db_url, parse_spec(data))
    assert _study(db_url, "base").get_trials() == []  # nothing queued at creation
    run_worker(db_url, "base", threads=1)
    search = read_search(db_url, "base")
    assert (search.status, search.trial_budget, search.baseline_trials) == ("done", 10, 7)
    assert search.search_trials == 3 and search.finished == 10
    trials = sorted(_study(db_url, "base").trials, key=lambda t: t.number)
    searched, baselines = trials[:3], trials[3:]
    assert all("baseline" not in t.user_attrs for t in searched)  # the budget is all search
    tuned = max((t for t in searched if t.state.name == "COMPLETE"), key=lambda t: t.value or 0.0)
    assert [t.user_attrs["baseline"] for t in baselines] == list(BASELINE_FAMILIES)
    for trial in baselines:
        assert trial.state.name == "COMPLETE"  # never pruned
        assert trial.params == {}  # outside the space: no Optuna parameters
        assert trial.user_attrs["schedule"]["lr"] == tuned.params["lr"]
        assert trial.user_attrs["schedule"]["family"] == trial.user_attrs["baseline"]
        assert trial.user_attrs["config"]["seed"] == tuned.user_attrs["config"]["seed"]
        assert len(trial.intermediate_values) == 3
    # `best` says how the tuned best compares with each baseline, from lr_baselines alone.
    with Backend.from_settings(Settings(storage_url=db_url)) as backend:
        best = best_config(backend, "base")
    by_name = {b["name"]: b for b in best["baselines"]}
    assert list(by_name) == sorted(BASELINE_FAMILIES)
    for trial in baselines:
        row = by_name[trial.user_attrs["baseline"]]
        assert (row["state"], row["trial_number"]) == ("complete", trial.number)
        assert (row["tuned_trial"], row["tuned_value"]) == (tuned.number, tuned.value)
        assert row["gain"] == pytest.approx(tuned.value - trial.value)  # maximize
    winner = max(trials, key=lambda t: t.value if t.value is not None else -1.0)
    assert best["trial_number"] == winner.number
    assert best["baseline"] == winner.user_attrs.get("baseline")
    # optuna-dashboard's note on each baseline's page says it in words.
    study = _study(db_url, "base")
    attrs = study._storage.get_study_system_attrs(study._study_id)
    note = get_note_from_system_attrs(attrs, baselines[1]._trial_id)["body"]
    assert note.startswith("**Baseline: step** at LR ")


def test_agents_finishing_the_last_trials_together_open_the_baselines_once(
    db_url: str, make_spec: SpecFactory
) -> None:
    spec = parse_spec(make_spec(name="race", baselines=True, budget={"trials": 2, "epochs": 2}))
    prepare_search(db_url, spec)
    ledgers = [TrialLedger(Settings(storage_url=db_url, db_retry_s=30)) for _ in range(2)]
    try:
        runs = []
        for ledger in ledgers:
            search = ledger.find("race")
            assert search is not None
            study = _study(db_url, "race")
            lease = ledger.claim(search, f"w{len(runs)}")
            assert lease is not None
            run = ledger.start(search, study, lease, ledger.ask(study, lease))
            assert run is not None
            runs.append(run)
        config = baseline_configs(spec)[0][1].to_dict()
        barrier = threading.Barrier(2)

        def finish(i: int) -> bool:
            barrier.wait()
            return ledgers[i].finish(runs[i], Outcome.COMPLETE, value=0.5 + i, config=config)

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(finish, range(2))) == [True, True]
        search = read_search(db_url, "race")
        assert (search.trial_budget, search.baseline_trials, search.status) == (9, 7, "running")
        waiting = [t for t in _study(db_url, "race").get_trials() if t.state.name == "WAITING"]
        assert sorted(t.user_attrs["baseline"] for t in waiting) == sorted(BASELINE_FAMILIES)
        # Exactly the baselines' slots are left to claim.
        claims = [ledgers[0].claim(search, "w") for _ in range(8)]
        assert sum(c is not None for c in claims) == 7
    finally:
        for ledger in ledgers:
            ledger.close()


def test_a_lost_baseline_runs_again_as_a_baseline(sqlite_url: str, make_spec: SpecFactory) -> None:
    spec = make_spec(name="lost", baselines=True, budget={"trials": 1, "epochs": 2})
    prepare_search(sqlite_url, parse_spec(spec))
    ledger = TrialLedger(Settings(storage_url=sqlite_url, stale_after_s=30))
    try:
        _finish_searched(ledger, "lost", sqlite_url, 0.9)  # the search's one trial: baselines open
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
