"""The LR range test: sweeps as the search's first trials, the range read from them, claims
that wait for it, a lost sweep run again, and the range shown by the API and ``best``."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError, ScheduleError
from lrsearch.schedules import RangeSweep
from lrsearch.schedules.sweep import MIN_SWEEP_STEPS
from lrsearch.search.ledger import TrialLedger
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.service import Backend, best_config, lr_range_view, range_line
from lrsearch.space.lr_range import (
    HIGH_FACTOR,
    SWEEP_ATTR,
    SweepReading,
    choose_range,
    read_sweep,
    sweep_charge,
)
from lrsearch.spec import parse_spec
from lrsearch.tasks.registry import load_task
from lrsearch.train.loop import steps_per_epoch
from tests.search.searchutil import read_search

SpecFactory = Callable[..., dict[str, Any]]
SCRIPTS = Path(__file__).resolve().parents[1] / "trial" / "scripts"


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=store.make_optuna_storage(url))


def _range_spec(make_spec: SpecFactory, **search: Any) -> dict[str, Any]:
    options = {"sampler": "random", "seed": 0, "pruner": "none", "lr_range": "auto"}
    options.update({"lr_range_seeds": 3, "lr_range_steps": 60, **search})
    return make_spec(name="rt", search=options)


# -- the spec ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "space", "field", "words"),
    [
        ({"lr_range": "sometimes"}, {}, "search.lr_range", "'off' or 'auto'"),
        ({"lr_range": "auto", "sampler": "grid"}, {}, "search.lr_range", "grid sampler"),
        ({"lr_range": "auto"}, {"lr": [0.01, 0.5]}, "search.lr_range", "less than 2 decades"),
        ({"lr_range_seeds": 0}, {}, "search.lr_range_seeds", ">= 1"),
        ({"lr_range_steps": 5}, {}, "search.lr_range_steps", ">= 20"),
        ({"lr_range_share": 0}, {}, "search.lr_range_share", "> 0"),
        ({"lr_range_share": 1.5}, {}, "search.lr_range_share", "<= 1"),
    ],
)
def test_spec_errors_name_the_field(
    make_spec: SpecFactory, search: dict[str, Any], space: dict[str, Any], field: str, words: str
) -> None:
    data = make_spec(search={"sampler": "random", **search}, space={"lr": [1e-6, 1.0], **space})
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(data)
    assert caught.value.field == field
    assert words in caught.value.reason


@pytest.mark.parametrize(
    ("change", "wanted"),
    [
        ({}, "auto"),  # nobody chose the LR range: lrsearch's [1e-6, 1] is tested first
        ({"space": {"lr": [1e-6, 1.0]}}, "off"),  # a range the spec gives is searched as given
        ({"budget": {"trials": 19, "epochs": 2}}, "off"),  # too few trials to pay for sweeps
        ({"search": {"sampler": "grid"}}, "off"),  # a grid's LRs are fixed
        ({"search": {"lr_range": "off"}}, "off"),  # said: kept
        ({"space": {"lr": [1e-4, 1.0]}, "search": {"lr_range": "auto"}}, "auto"),
        # a user's objective or command sweeps only through trial.scheduler: asked for, not
        # assumed
        ({"task": None, "objective": "tests.trial.objectives:regression"}, "off"),
        ({"task": None, "command": ["python", "train.py"]}, "off"),
    ],
)
def test_the_range_test_runs_by_default_where_nobody_chose_the_range(
    change: dict[str, Any], wanted: str
) -> None:
    data: dict[str, Any] = {"name": "d", "task": "digits-mlp", "budget": {"trials": 20}}
    data.update(change)
    if data["task"] is None:  # the user's own code: it names metric and direction
        del data["task"]
        data.update(metric="val_loss", direction="minimize")
    spec = parse_spec(data)
    assert spec.search.lr_range == wanted
    assert parse_spec(spec.model_dump(mode="json")).search.lr_range == wanted  # as stored


def test_a_spec_with_its_own_range_keeps_the_test_off(make_spec: SpecFactory) -> None:
    assert parse_spec(make_spec()).search.lr_range == "off"  # make_spec gives space.lr


# -- the rule ------------------------------------------------------------------------------


def _sweep(lrs: list[float], loss: Callable[[float], float]) -> tuple[list[float], list[float]]:
    return lrs, [loss(lr) for lr in lrs]


LRS = [1e-6 * 10 ** (7 * i / 199) for i in range(200)]  # 1e-6 to 10


def test_a_sweep_that_diverges_sets_the_top_of_the_range() -> None:
    # Falls from 2.3 between 1e-4 and 1e-2, flat to 0.3, blows up past 0.3.
    def loss(lr: float) -> float:
        fall = 2.0 / (1.0 + (1e-3 / lr) ** 2)
        return 2.3 - fall + (0.0 if lr < 0.3 else 50.0 * (lr - 0.3))

    readings = [read_sweep(*_sweep(LRS, loss), diverged=False) for _ in range(3)]
    reading = readings[0]
    assert reading.divergence_lr is not None and 0.3 < reading.divergence_lr < 0.5
    assert reading.steepest_lr is not None and 3e-4 < reading.steepest_lr < 3e-3
    chosen = choose_range("sgd", readings, (1e-6, 10.0))
    assert chosen.high == pytest.approx(HIGH_FACTOR * reading.divergence_lr)
    assert chosen.low == pytest.approx(max(reading.steepest_lr / 10, chosen.high / 10**4))
    assert math.log10(10.0 / 1e-6) - math.log10(chosen.high / chosen.low) >= 2  # >= 2 decades cut
    assert "diverged at lr" in chosen.why


def test_a_task_that_never_diverges_keeps_the_spaces_top() -> None:
    def loss(lr: float) -> float:
        return 2.3 - 2.0 / (1.0 + (1e-3 / lr) ** 2)

    readings = [read_sweep(*_sweep(LRS, loss), diverged=False)]
    assert readings[0].divergence_lr is None
    chosen = choose_range("adamw", readings, (1e-6, 10.0))
    assert chosen.high == 10.0 and chosen.divergence_lr is None
    steepest = readings[0].steepest_lr
    assert steepest is not None and 3e-4 < steepest < 3e-3
    # A decade below the steepest descent, but never more than 4 decades below the top.
    assert chosen.low == pytest.approx(max(10.0 / 10**4, min(steepest / 10, 10.0 / 10**3)))
    assert "never diverged" in chosen.why


def test_a_flat_noisy_start_is_not_divergence() -> None:
    flat = [2.3 + 0.01 * math.sin(7 * i) for i in range(40)]
    reading = read_sweep(LRS[:40], flat, diverged=False)
    assert reading.divergence_lr is None


def test_a_long_sweep_is_stored_thinned_with_what_was_read_from_it() -> None:
    lrs = [1e-6 * 10 ** (7 * i / 1999) for i in range(2000)]
    reading = read_sweep(
        *_sweep(lrs, lambda lr: 2.3 - min(lr, 0.1) * 10 + max(lr - 1, 0) * 9), False
    )
    stored = reading.to_dict()
    assert len(stored["lr"]) == len(stored["loss"]) == len(stored["smoothed"]) == 500
    assert (stored["lr"][0], stored["lr"][-1]) == (lrs[0], lrs[-1])
    assert stored["divergence_lr"] == reading.divergence_lr is not None
    assert SweepReading.from_dict(stored).steepest_lr == reading.steepest_lr


def test_without_a_usable_sweep_the_range_is_the_spaces() -> None:
    chosen = choose_range("sgd", [read_sweep(LRS[:5], [1.0] * 5, diverged=False)], (1e-5, 1.0))
    assert (chosen.low, chosen.high, chosen.sweeps) == (1e-5, 1.0, 0)
    assert "no usable sweep" in chosen.why


def test_the_charge_is_in_whole_trials_and_never_all_of_them() -> None:
    assert sweep_charge([60, 60, 40], 100, 10) == 2
    assert sweep_charge([60, 60, 40], None, 10) == 3  # no trial length known: a trial each
    assert sweep_charge([600, 600], 10, 4) == 3  # at least one searched trial is left


# -- a real search -------------------------------------------------------------------------


@pytest.mark.slow
def test_sweeps_come_first_and_the_searched_trials_sample_inside_the_range(
    db_url: str, make_spec: SpecFactory
) -> None:
    data = _range_spec(make_spec)
    data["space"] = {
        "families": ["constant", "cosine"],
        "lr": [1e-5, 50.0],
        "optimizers": ["adamw"],
    }
    prepare_search(db_url, parse_spec(data))
    assert read_search(db_url, "rt").trial_budget == 4 + 3  # the sweeps' slots, until charged
    run_worker(db_url, "rt", threads=1)
    trials = sorted(_study(db_url, "rt").trials, key=lambda t: t.number)
    sweeps, searched = trials[:3], trials[3:]
    for trial in sweeps:  # the first trials: no parameters, no pruner's values
        assert SWEEP_ATTR in trial.user_attrs and trial.params == {}
        assert trial.state.name == "PRUNED" and trial.intermediate_values == {}
    with Backend.from_settings(Settings(storage_url=db_url)) as backend:
        view = lr_range_view(backend, "rt")
        best = best_config(backend, "rt")
    assert view["state"] == "done" and view["ended"] == 3
    chosen = view["ranges"]["adamw"]
    # AdamW on digits diverges far below 50: the top of the range comes from the sweeps.
    assert chosen["divergence_lr"] is not None and chosen["divergence_lr"] < 5.0
    assert chosen["high"] == pytest.approx(HIGH_FACTOR * chosen["divergence_lr"])
    assert 1e-5 <= chosen["low"] < chosen["high"]
    assert len(searched) == 4 - view["charge"] and searched
    for trial in searched:
        assert SWEEP_ATTR not in trial.user_attrs
        assert chosen["low"] <= trial.params["lr"] <= chosen["high"]
    # Charged in whole trials of 2 epochs of the task's batches.
    per_trial = 2 * steps_per_epoch(load_task("digits-mlp", {"hidden": 32}))
    assert view["trial_updates"] == per_trial
    assert view["charge"] == min(math.ceil(view["sweep_updates"] / per_trial), 3)
    search = read_search(db_url, "rt")
    assert search.trial_budget == 4 + 3 - view["charge"] and search.status == "done"
    for curve in view["curves"]:  # the smoothed curve, as stored
        assert curve["optimizer"] == "adamw" and len(curve["lr"]) == len(curve["smoothed"]) >= 10
        assert curve["lr"] == sorted(curve["lr"])
    assert best["lr_range"] == view  # `lrsearch best` prints it
    line = range_line(view)
    assert line is not None and line.startswith("LR range test: adamw [")


@pytest.mark.slow
def test_a_task_that_never_diverges_within_the_range(
    sqlite_url: str, make_spec: SpecFactory
) -> None:
    data = _range_spec(make_spec, lr_range_seeds=1)
    data["space"] = {"families": ["constant"], "lr": [1e-6, 1e-2], "optimizers": ["sgd"]}
    prepare_search(sqlite_url, parse_spec(data))
    run_worker(sqlite_url, "rt", threads=1)
    with Backend.from_settings(Settings(storage_url=sqlite_url)) as backend:
        chosen = lr_range_view(backend, "rt")["ranges"]["sgd"]
    assert chosen["divergence_lr"] is None and chosen["high"] == 1e-2
    assert chosen["low"] == pytest.approx(max(1e-6, min(chosen["steepest_lr"] / 10, 1e-2 / 10**3)))
    assert "never diverged within space.lr" in chosen["why"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("share", "each"),
    [
        (0.5, 30),  # 0.5 x 4 trials of 46 updates over 3 sweeps: 30 updates each (92 in all)
        (1.0, 60),  # 61 allowed: lr_range_steps caps it
        (0.03, 16),  # lrsearch's default share of a tiny budget: 1 update; the floor is 16
    ],
)
def test_a_sweep_takes_its_share_of_the_budget(
    sqlite_url: str, make_spec: SpecFactory, share: float, each: int
) -> None:
    data = _range_spec(make_spec, lr_range_share=share)  # lr_range_steps 60, 3 sweeps
    data["space"] = {"families": ["constant"], "lr": [1e-6, 1e-2], "optimizers": ["sgd"]}
    prepare_search(sqlite_url, parse_spec(data))
    run_worker(sqlite_url, "rt", threads=1)
    per_trial = 2 * steps_per_epoch(load_task("digits-mlp", {"hidden": 32}))
    assert per_trial == 46
    sweeps = [t for t in _study(sqlite_url, "rt").trials if SWEEP_ATTR in t.user_attrs]
    # SGD below 1e-2 never diverges: every sweep runs its whole length, no more.
    assert [t.user_attrs["sweep_updates"] for t in sweeps] == [each] * 3
    with Backend.from_settings(Settings(storage_url=sqlite_url)) as backend:
        view = lr_range_view(backend, "rt")
    assert view["sweep_updates"] == 3 * each and view["trial_updates"] == per_trial
    if each > 16:  # above the floor, never more than the share
        assert view["sweep_updates"] <= share * 4 * per_trial
    for curve in view["curves"]:  # the whole range swept in the shorter sweep
        assert curve["lr"][0] == pytest.approx(1e-6) and curve["lr"][-1] == pytest.approx(1e-2)
        assert len(curve["lr"]) == each


def test_a_sweep_is_sized_from_the_trial_length_the_code_plans() -> None:
    sweep = RangeSweep(1e-6, 1.0, 200, allowance=0.15)
    assert sweep.sized(112).steps == 16  # floor(16.8)
    assert sweep.sized(1_000).steps == 150
    assert sweep.sized(10_000).steps == 200  # at most lr_range_steps
    assert sweep.sized(10).steps == MIN_SWEEP_STEPS  # at least the floor
    assert sweep.sized(None) is sweep  # the code never said: the longest sweep
    assert RangeSweep(1e-6, 1.0, 200).sized(112).steps == 200  # no allowance: steps
    assert RangeSweep.from_dict(sweep.to_dict()) == sweep
    short = sweep.sized(112)
    assert short.lr_at(0) == 1e-6 and short.lr_at(15) == pytest.approx(1.0)
    with pytest.raises(ScheduleError, match="allowance"):
        RangeSweep(1e-6, 1.0, 200, allowance=0.0)


@pytest.mark.slow
def test_a_function_trial_sweeps_through_the_trial_api(sqlite_url: str) -> None:
    data = {
        "name": "fn",
        "objective": "tests.trial.objectives:regression",
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 3, "steps": 60, "evals": 3},
        "search": {
            "sampler": "random",
            "pruner": "none",
            "lr_range": "auto",
            "lr_range_seeds": 3,
            "lr_range_steps": 80,
        },
        "space": {"families": ["constant"], "lr": [1e-6, 30.0], "optimizers": ["sgd"]},
        "baselines": False,
    }
    prepare_search(sqlite_url, parse_spec(data))
    run_worker(sqlite_url, "fn", threads=1)
    with Backend.from_settings(Settings(storage_url=sqlite_url)) as backend:
        view = lr_range_view(backend, "fn")
    chosen = view["ranges"]["sgd"]
    # A linear regression with SGD and momentum blows up well below 30.
    assert chosen["divergence_lr"] is not None and chosen["high"] < 30.0
    assert view["trial_updates"] == 60  # the code's own total_steps (budget.steps)
    searched = [t for t in _study(sqlite_url, "fn").trials if SWEEP_ATTR not in t.user_attrs]
    assert searched and all(chosen["low"] <= t.params["lr"] <= chosen["high"] for t in searched)


@pytest.mark.slow
def test_a_command_that_cannot_sweep_keeps_the_spaces_range_and_says_why(
    sqlite_url: str, tmp_path: Path
) -> None:
    data = {
        "name": "cmd",
        "command": [sys.executable, str(SCRIPTS / "trainer.py"), "ok"],
        "env": {"EVAL_S": "0.0"},
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 2, "steps": 20, "evals": 2},
        "search": {"sampler": "random", "pruner": "none", "lr_range": "auto", "lr_range_seeds": 1},
        "space": {"families": ["constant"], "lr": [1e-5, 1.0], "optimizers": ["sgd"]},
        "baselines": False,
    }
    prepare_search(sqlite_url, parse_spec(data))
    run_worker(sqlite_url, "cmd", threads=1)
    with Backend.from_settings(Settings(storage_url=sqlite_url)) as backend:
        view = lr_range_view(backend, "cmd")
    assert view["state"] == "done"
    assert (view["ranges"]["sgd"]["low"], view["ranges"]["sgd"]["high"]) == (1e-5, 1.0)
    assert "no usable sweep" in view["ranges"]["sgd"]["why"]
    assert "never called trial.scheduler()" in view["curves"][0]["reason"]
    sweep = next(t for t in _study(sqlite_url, "cmd").trials if SWEEP_ATTR in t.user_attrs)
    assert "never called trial.scheduler()" in sweep.user_attrs["sweep_note"]


# -- many agents and crashes ---------------------------------------------------------------


def test_claims_wait_for_the_range_and_a_lost_sweep_runs_again(
    db_url: str, make_spec: SpecFactory
) -> None:
    data = _range_spec(make_spec, lr_range_seeds=2, lr_range_steps=40)
    data["space"] = {"families": ["constant"], "lr": [1e-5, 1.0], "optimizers": ["sgd"]}
    data["budget"] = {"trials": 2, "epochs": 1}
    prepare_search(db_url, parse_spec(data))
    ledger = TrialLedger(Settings(storage_url=db_url, stale_after_s=30))
    try:
        search = ledger.find("rt")
        assert search is not None
        study = _study(db_url, "rt")
        runs = []
        for worker in ("dead", "alive"):
            lease = ledger.claim(search, worker)
            assert lease is not None
            run = ledger.start(search, study, lease, ledger.ask(study, lease))
            assert run is not None and run.sweep and not run.prunes
            runs.append(run)
        assert ledger.claim(search, "eager") is None  # no searched slot before the range
        with ledger.engine.begin() as conn:  # the first sweep's worker died a minute ago
            conn.execute(
                sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
                {"t": datetime.now(UTC) - timedelta(seconds=60), "i": runs[0].lease.id},
            )
        assert ledger.reap() == 1
        ledger.abandon(runs[1])  # the other one is stopped (SIGTERM): queued again too
        assert store.range_test(ledger.engine, search.id).state == "sweeping"  # type: ignore[union-attr]
    finally:
        ledger.close()
    trials = _study(db_url, "rt").get_trials()
    again = [t for t in trials if t.user_attrs.get("retry_of") in (runs[0].number, runs[1].number)]
    assert sorted(t.user_attrs["attempt"] for t in again) == [1, 2]  # lost: a new attempt
    assert all(t.state.name == "WAITING" and SWEEP_ATTR in t.user_attrs for t in again)
    run_worker(db_url, "rt", threads=1)
    search = read_search(db_url, "rt")
    test = store.range_test(store.make_engine(db_url), search.id)
    assert test is not None and test.done and len(test.ended) == 2
    assert {row.trial_number for row in test.ended} == {t.number for t in again}
    finished = sorted(_study(db_url, "rt").get_trials(), key=lambda t: t.number)
    searched = [
        t for t in finished if SWEEP_ATTR not in t.user_attrs and "retry_of" not in t.user_attrs
    ]
    assert searched and min(t.number for t in searched) > max(t.number for t in again)
    assert search.status == "done" and search.finished == search.trial_budget


def _stale(ledger: TrialLedger, lease_id: int) -> None:
    with ledger.engine.begin() as conn:  # its worker died a minute ago
        conn.execute(
            sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(seconds=60), "i": lease_id},
        )


def test_a_sweep_told_but_not_counted_is_stored_by_the_reaper(
    db_url: str, make_spec: SpecFactory
) -> None:
    data = _range_spec(make_spec, lr_range_seeds=1, lr_range_steps=40)
    data["space"] = {"families": ["constant"], "lr": [1e-5, 1.0], "optimizers": ["sgd"]}
    prepare_search(db_url, parse_spec(data))
    ledger = TrialLedger(Settings(storage_url=db_url, stale_after_s=30))
    try:
        search = ledger.find("rt")
        assert search is not None
        study = _study(db_url, "rt")
        lease = ledger.claim(search, "dies-after-telling")
        assert lease is not None
        run = ledger.start(search, study, lease, ledger.ask(study, lease))
        assert run is not None and run.sweep
        lrs = [1e-5 * 10 ** (5 * i / 39) for i in range(40)]
        for i, lr in enumerate(lrs):  # falls, then blows up past 0.1
            loss = 2.3 - 2.0 * i / 30 if lr < 0.1 else 2.3 + 10.0 * lr
            ledger.report(run, i, {"step": i + 1, "lr": lr, "train_loss": loss}, loss)
        ledger.record_epochs(run)
        ledger.set_attrs(run, {"sweep_updates": 40, "sweep_trial_updates": 46})
        study.tell(run.trial, state=optuna.trial.TrialState.PRUNED)  # then it died
        _stale(ledger, lease.id)
        assert ledger.reap() == 1  # counted by the reaper, and the sweep stored from its rows
        test = store.range_test(ledger.engine, search.id)
    finally:
        ledger.close()
    assert test is not None and test.done and [r.trial_number for r in test.ended] == [0]
    (row,) = test.ended
    assert (row.state, row.updates, row.trial_updates) == ("pruned", 40, 46)
    chosen = (test.ranges or {})["sgd"]
    assert chosen["divergence_lr"] is not None and 0.1 <= chosen["divergence_lr"] <= 1.0
    assert row.curve["lr"] == lrs


def test_a_sweep_lost_for_good_ends_the_range_test_with_the_spaces_range(
    db_url: str, make_spec: SpecFactory
) -> None:
    data = _range_spec(make_spec, lr_range_seeds=1, lr_range_steps=40)
    data["space"] = {"families": ["constant"], "lr": [1e-5, 1.0], "optimizers": ["sgd"]}
    prepare_search(db_url, parse_spec(data))
    ledger = TrialLedger(Settings(storage_url=db_url, stale_after_s=30, max_attempts=1))
    try:
        search = ledger.find("rt")
        assert search is not None
        study = _study(db_url, "rt")
        lease = ledger.claim(search, "dead")
        assert lease is not None and ledger.start(search, study, lease, ledger.ask(study, lease))
        assert ledger.claim(search, "eager") is None  # waiting for the range
        _stale(ledger, lease.id)
        assert ledger.reap() == 1  # its last attempt: failed for good, stored without points
        test = store.range_test(ledger.engine, search.id)
        assert test is not None and test.done
        assert (test.ranges or {})["sgd"]["low"] == 1e-5 and "no usable sweep" in (
            test.ranges or {}
        )["sgd"]["why"]
        assert ledger.claim(search, "eager") is not None  # the searched trials may start
    finally:
        ledger.close()
