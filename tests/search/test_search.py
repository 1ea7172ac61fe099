"""The search job with real training on real SQLite files: outcomes, budget, determinism."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pytest

from lrsearch import store
from lrsearch.schedules import family_names
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec

SpecFactory = Callable[..., dict[str, Any]]


def _run(url: str, data: dict[str, Any]) -> tuple[store.Search, optuna.Study]:
    spec = parse_spec(data)
    prepare_search(url, spec)
    run_worker(url, spec.name, threads=1)
    engine = store.make_engine(url)
    try:
        search = store.get_search(engine, spec.name)
    finally:
        engine.dispose()
    study = optuna.load_study(study_name=spec.name, storage=store.make_optuna_storage(url))
    return search, study


def test_every_family_is_sampled_and_trained(db_url: str, make_spec: SpecFactory) -> None:
    families = list(family_names())
    data = make_spec(
        budget={"trials": 100, "epochs": 2},
        search={"sampler": "grid", "pruner": "none"},
        space={"families": families, "lr": [0.03, 0.03], "optimizers": ["sgd"]},
    )
    search, study = _run(db_url, data)
    assert search.trial_budget == len(families)  # the grid has one point per family
    trained = {t.params["family"] for t in study.trials if t.state.name == "COMPLETE"}
    assert trained == set(families)
    for trial in study.trials:
        assert trial.user_attrs["schedule"]["family"] == trial.params["family"]
        assert len(trial.intermediate_values) == 2
        assert 0.0 <= trial.value <= 1.0
    assert search.status == "done" and search.n_complete == len(families)


def test_median_pruner_prunes_hopeless_learning_rates(db_url: str, make_spec: SpecFactory) -> None:
    data = make_spec(
        budget={"trials": 14, "epochs": 6},
        search={"sampler": "random", "seed": 1, "pruner": "median", "startup_trials": 3},
        space={"families": ["constant", "cosine"], "lr": [1e-6, 0.5], "optimizers": ["sgd"]},
    )
    search, study = _run(db_url, data)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned and search.n_pruned == len(pruned)
    assert all(len(t.intermediate_values) < 6 for t in pruned)
    assert search.n_complete + search.n_pruned + search.n_failed == 14


def test_divergence_fails_the_trial_with_a_reason_and_the_search_goes_on(
    db_url: str, make_spec: SpecFactory, tmp_path: Any
) -> None:
    rows = ["x1,x2,y"] + [f"{i % 7},{i % 5},{3 * (i % 7) - 2 * (i % 5)}" for i in range(200)]
    (tmp_path / "linear.csv").write_text("\n".join(rows) + "\n")
    data = make_spec(
        task="tabular",
        task_options={"path": str(tmp_path / "linear.csv"), "target": "y", "kind": "regression"},
        budget={"trials": 3, "epochs": 3},
        space={
            "families": ["constant"],
            "lr": [100.0, 100.0],
            "optimizers": ["sgd"],
            "warmup": [0.0, 0.0],
        },
    )
    search, study = _run(db_url, data)
    assert [t.state.name for t in study.trials] == ["FAIL"] * 3
    assert {t.user_attrs["fail_reason"] for t in study.trials} == {"diverged"}
    assert "diverged at epoch" in study.trials[0].user_attrs["fail_detail"]
    assert search.n_failed == 3 and search.status == "done"


def test_same_spec_and_seed_give_the_same_trials(tmp_path: Any, make_spec: SpecFactory) -> None:
    data = make_spec(
        budget={"trials": 5, "epochs": 2},
        search={"sampler": "tpe", "seed": 7, "pruner": "none", "startup_trials": 2},
    )
    runs = []
    for i in range(2):
        _, study = _run(f"sqlite:///{tmp_path / f'run{i}.db'}", data)
        runs.append([(t.params, t.value, t.intermediate_values) for t in study.trials])
    assert runs[0] == runs[1]


def test_best_is_materialized_and_matches_optuna(db_url: str, make_spec: SpecFactory) -> None:
    search, study = _run(db_url, make_spec(budget={"trials": 5, "epochs": 2}))
    engine = store.make_engine(db_url)
    try:
        best = store.get_best(engine, search.name)
    finally:
        engine.dispose()
    assert best is not None
    assert best.trial_number == study.best_trial.number
    assert best.value == pytest.approx(study.best_value)
    assert best.config["schedule"] == study.best_trial.user_attrs["schedule"]


def test_a_different_spec_under_the_same_name_is_refused(
    db_url: str, make_spec: SpecFactory
) -> None:
    from lrsearch.errors import ConflictError

    prepare_search(db_url, parse_spec(make_spec()))
    with pytest.raises(ConflictError, match="different spec"):
        prepare_search(db_url, parse_spec(make_spec(budget={"trials": 4, "epochs": 3})))
    with pytest.raises(ConflictError, match="run `lrsearch extend t --trials 5`"):  # budget only
        prepare_search(db_url, parse_spec(make_spec(budget={"trials": 9, "epochs": 2})))


def test_every_epoch_is_recorded_beside_optunas_values(db_url: str, make_spec: SpecFactory) -> None:
    search, study = _run(db_url, make_spec(budget={"trials": 3, "epochs": 4}))
    engine = store.make_engine(db_url)
    try:
        for trial in study.trials:
            rows = store.epochs_of(engine, search.name, trial.number)
            assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
            assert [r["value"] for r in rows] == pytest.approx(
                [trial.intermediate_values[e] for e in range(4)]
            )
            assert all(r["lr"] is not None and r["train_loss"] > 0 for r in rows)
            assert rows[-1]["step"] == 4 * rows[0]["step"]
    finally:
        engine.dispose()
