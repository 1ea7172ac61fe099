"""The schedule-aware pruner: decay left per family, the rule, and decisions on real databases.

The reference trials' curves are written straight to ``lr_epoch_metrics`` (as the ledger writes
them: value and decay left per epoch); the trial under judgement is a real running trial of a
real search, reporting through the worker's ledger.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.factory import make_pruner
from lrsearch.search.local import prepare_search
from lrsearch.search.pruning import SLACK, ScheduleAwarePruner, decay_left, fraction_done
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec
from lrsearch.store import Outcome
from lrsearch.store.models import epoch_metrics
from tests.search.rungutil import Rungs, _spec


@pytest.mark.parametrize(
    ("family", "params", "fraction", "expected"),
    [
        ("constant", None, 0.33, 0.0),  # nothing left to decay: judged on its raw value
        ("cosine", None, 0.5, math.log10(0.5 / 1e-3)),  # half the peak now, 0 at the end
        ("linear", None, 0.75, math.log10(0.25 / 1e-3)),
        ("exponential", {"final_ratio": 0.01}, 0.5, 1.0),  # 10 % now, 1 % at the end
        ("wsd", None, 0.5, 3.0),  # still at the peak in its stable phase
        ("cosine", None, 1.0, 0.0),  # the last report: nothing ahead
    ],
)
def test_decay_left_is_the_log_of_lr_now_over_the_lowest_ahead(
    family: str, params: dict[str, Any] | None, fraction: float, expected: float
) -> None:
    schedule = ScheduleSpec.create(family, lr=0.1, params=params)
    assert decay_left(schedule, fraction) == pytest.approx(expected, abs=0.02)


def test_decay_left_of_reduce_on_plateau_counts_its_floor_as_reachable() -> None:
    plateau = ScheduleSpec.create("plateau", lr=0.1, params={"min_ratio": 0.01})
    assert decay_left(plateau, 0.5) == pytest.approx(2.0)
    assert decay_left(plateau, 0.5, lr_now=0.001) == pytest.approx(0.0)  # reduced to its floor


def test_fraction_done_by_steps_else_by_reports() -> None:
    assert fraction_done(2, 300, reports=10, steps=1000) == 0.3
    assert fraction_done(2, None, reports=10, steps=None) == 0.3
    assert fraction_done(2, 300, reports=None, steps=None) is None


def _standing_of(references: list[float], value: float, maximize: bool) -> store.RungStanding:
    """What rung_standing's statement returns, computed here."""
    better = [r for r in references if (r > value if maximize else r < value)]
    other = [r for r in references if r not in better]
    pick = (min, max) if maximize else (max, min)
    return store.RungStanding(
        len(references),
        len(better),
        pick[0](better) if better else None,
        pick[1](other) if other else None,
    )


@pytest.mark.parametrize("percentile", [50.0, 25.0, 80.0])
@pytest.mark.parametrize("maximize", [False, True])
def test_the_rule_is_optunas_interpolated_percentile_over_enough_comparable_trials(
    maximize: bool, percentile: float
) -> None:
    rng = np.random.default_rng(7)
    pruner = ScheduleAwarePruner(min_references=5, percentile=percentile)
    decided = {True: 0, False: 0}
    for n in range(1, 14):
        for _ in range(40):
            references = [float(r) for r in rng.choice(np.linspace(0.0, 1.0, 9), size=n)]
            value = float(rng.choice(np.linspace(-0.05, 1.05, 23))) + 0.01  # never on a bar
            # What Optuna's PercentilePruner takes (its MedianPruner at 50): the bar keeps the
            # best ``percentile`` % of the references.
            bar = float(np.percentile(references, 100.0 - percentile if maximize else percentile))
            expected = n >= 5 and (value < bar if maximize else value > bar)
            standing = _standing_of(references, value, maximize)
            assert pruner.decides(standing, value, maximize) is expected, (references, value)
            decided[expected] += 1
    assert min(decided.values()) > 50  # both outcomes were tried many times


def test_an_even_count_of_references_is_split_between_the_middle_two() -> None:
    pruner = ScheduleAwarePruner(min_references=5)
    references = [0.1, 0.2, 0.3, 0.5, 0.6, 0.7]  # the median is 0.4
    # Three better either way; "more than half better" would keep both.
    assert pruner.decides(_standing_of(references, 0.45, False), 0.45) is True
    assert pruner.decides(_standing_of(references, 0.35, False), 0.35) is False


def test_the_factory_names_it_schedule_with_optunas_warmup_and_startup() -> None:
    spec = parse_spec(_spec("f", epochs=9, startup=3))
    pruner = make_pruner(spec)
    assert isinstance(pruner, ScheduleAwarePruner)
    assert (pruner.min_references, pruner.warmup_rungs) == (3, 1)
    assert not pruner.judges(0) and pruner.judges(1)


# --------------------------------------------------------------------------- on a database


@pytest.fixture
def rungs(db_url: str) -> Iterator[Rungs]:
    made = Rungs(db_url, parse_spec(_spec("rungs", epochs=9)))
    yield made
    made.ledger.close()


EARLY, LATE = 1.0, 3.0  # decay left at epoch 3 of 9: exponential-like, WSD-like


def _population(rungs: Rungs) -> None:
    """At epoch 3, six early decayers look good (0.5) and six late decayers look worse
    (0.80 .. 1.00): at the end the late ones win; baselines (no decay left) look best of all."""
    for i in range(6):
        rungs.curve(100 + i, {3: 0.5 + 0.01 * i}, {3: EARLY})
    for i, value in enumerate((0.80, 0.82, 0.88, 0.90, 0.95, 1.00)):
        rungs.curve(200 + i, {3: value}, {3: LATE})
    for i in range(7):
        rungs.curve(300 + i, {3: 0.1}, {3: None})


def test_a_late_decaying_trial_is_kept_where_the_raw_median_prunes_it(rungs: Rungs) -> None:
    _population(rungs)
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert decay_left(run.schedule, 4 / 9) == pytest.approx(LATE)  # type: ignore[arg-type]
    raw = [0.5 + 0.01 * i for i in range(6)] + [0.80, 0.82, 0.88, 0.90, 0.95, 1.00]
    assert sorted(raw)[len(raw) // 2] < 0.85  # worse than the raw median: MedianPruner prunes
    prune, _ = rungs.report(run, 3, 0.85)
    assert prune is False  # 2 of the 6 comparable trials are better


def test_a_diverging_trial_is_pruned(rungs: Rungs) -> None:
    _population(rungs)
    late = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert rungs.report(late, 3, 2.5)[0] is True
    flat = rungs.running(ScheduleSpec.create("constant", lr=0.1))
    assert rungs.report(flat, 3, 2.5)[0] is True  # compared with every searched trial


def test_a_decayed_trial_is_judged_against_everyone_and_baselines_never_count(
    rungs: Rungs,
) -> None:
    _population(rungs)
    run = rungs.running(ScheduleSpec.create("constant", lr=0.1))
    # Better than the median of the 12 searched trials (0.675, between 0.55 and 0.80): kept,
    # though all 7 baselines (0.1) beat it.
    assert rungs.report(run, 3, 0.65)[0] is False

    def standing(value: float, maximize: bool) -> store.RungStanding:
        with store.transaction(rungs.ledger.engine) as conn:
            return store.rung_standing(
                conn,
                rungs.row.id,
                3,
                trial_number=run.number,
                decay_floor=0.0 - SLACK,
                value=value,
                maximize=maximize,
            )

    lower = standing(0.65, maximize=False)
    assert lower == store.RungStanding(references=12, better=6)
    assert (lower.worst_better, lower.best_other) == pytest.approx((0.55, 0.80))
    higher = standing(0.85, maximize=True)  # where higher is better
    assert higher == store.RungStanding(references=12, better=4)  # 0.88 .. 1.00
    assert (higher.worst_better, higher.best_other) == pytest.approx((0.88, 0.82))
    # Six better too, but worse than the median: pruned.
    worse = rungs.running(ScheduleSpec.create("constant", lr=0.1))
    assert rungs.report(worse, 3, 0.7)[0] is True


def test_warmup_rungs_and_too_few_references_never_prune(rungs: Rungs) -> None:
    for i in range(2):  # startup_trials = 3: two comparable trials are not enough
        rungs.curve(100 + i, {0: 0.1, 3: 0.1}, {0: LATE, 3: LATE})
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert rungs.report(run, 0, 9.0) == (False, 0)  # warm-up rung: not even a query
    prune, statements = rungs.report(run, 3, 9.0)
    assert prune is False and statements >= 1  # asked, and too few to judge


def test_a_baseline_writes_no_decay_left_and_is_never_judged(rungs: Rungs) -> None:
    _population(rungs)
    run = rungs.running(ScheduleSpec.create("constant", lr=0.1))
    run.baseline, run.prunes = True, False
    assert rungs.report(run, 3, 9.0) == (False, 0)
    rungs.ledger.record_epochs(run)
    with store.transaction(rungs.ledger.engine) as conn:
        decay = conn.execute(
            sa.select(epoch_metrics.c.decay_left).where(
                epoch_metrics.c.search_id == rungs.row.id,
                epoch_metrics.c.trial_number == run.number,
            )
        ).scalar_one()
    assert decay is None


def test_a_decision_costs_one_statement_at_any_epoch_and_any_trial_count(db_url: str) -> None:
    rungs = Rungs(db_url, parse_spec(_spec("cost", epochs=1000)))
    try:
        cosine = ScheduleSpec.create("cosine", lr=0.1)
        costs = {}
        for n_trials in (10, 1000):
            start = 1000 * n_trials  # fresh trial numbers for each population
            for i in range(n_trials):
                decay = {1: decay_left(cosine, 2 / 1000), 500: decay_left(cosine, 501 / 1000)}
                rungs.curve(start + i, {1: 1.0 + i, 500: 0.5 + i}, decay)
            run = rungs.running(cosine)
            for epoch in (1, 500):
                prune, statements = rungs.report(run, epoch, 1.0e6)
                assert prune is True  # worse than every reference
                costs[n_trials, epoch] = statements
        # One read in its own transaction (SQLite's BEGIN IMMEDIATE counts as a statement).
        assert len(set(costs.values())) == 1 and max(costs.values()) <= 2, costs
    finally:
        rungs.ledger.close()


def test_the_rung_query_reads_the_rung_index(sqlite_url: str) -> None:
    rungs = Rungs(sqlite_url, parse_spec(_spec("plan", epochs=9)))
    try:
        captured: list[tuple[str, Any]] = []

        def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "lr_epoch_metrics" in statement and "count" in statement:
                captured.append((statement, parameters))

        sa.event.listen(rungs.ledger.engine, "before_cursor_execute", capture)
        run = rungs.running(ScheduleSpec.create("cosine", lr=0.1))
        rungs.report(run, 3, 1.0)
        assert len(captured) == 1
        with rungs.ledger.engine.connect() as conn:
            statement, parameters = captured[0]
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        assert any("ix_lr_epoch_metrics_rung" in str(row) for row in plan), plan
    finally:
        rungs.ledger.close()


def test_a_search_with_the_schedule_pruner_runs_and_prunes(sqlite_url: str) -> None:
    data = {
        "name": "whole",
        "task": "digits-mlp",
        "task_options": {"hidden": 16},
        "budget": {"trials": 10, "epochs": 4},
        "search": {"sampler": "random", "seed": 1, "pruner": "schedule", "startup_trials": 2},
        "space": {"families": ["constant", "cosine"], "lr": [1e-4, 1.0], "optimizers": ["sgd"]},
        "baselines": False,
    }
    prepare_search(sqlite_url, parse_spec(data))
    summary = run_worker(sqlite_url, "whole", threads=1)
    assert summary.complete + summary.pruned + summary.failed == 10
    assert summary.pruned >= 1
    engine = store.make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            missing = conn.execute(
                sa.select(sa.func.count()).where(epoch_metrics.c.decay_left.is_(None))
            ).scalar_one()
    finally:
        engine.dispose()
    assert missing == 0  # every searched trial's epochs carry their decay left


def test_only_completed_trials_set_the_bar(rungs: Rungs) -> None:
    """As with Optuna's median pruner, the references are completed trials: rows of trials
    still running or pruned never count, and a trial's rows count once it completes."""
    for i in range(6):  # six trials pruned or running: far better, but not references
        rungs.curve(500 + i, {3: 0.1}, {3: LATE}, complete=False)
    for i in range(3):
        rungs.curve(600 + i, {3: 0.9}, {3: LATE})
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert rungs.report(run, 3, 0.5)[0] is False  # better than the three completed ones
    done = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    rungs.report(done, 3, 0.2)
    assert rungs.ledger.finish(done, Outcome.COMPLETE, value=0.2, config={"x": 1})
    with store.transaction(rungs.ledger.engine) as conn:
        standing = store.rung_standing(
            conn,
            rungs.row.id,
            3,
            trial_number=run.number,
            decay_floor=LATE - SLACK,
            value=0.5,
            maximize=False,
        )
    assert standing == store.RungStanding(references=4, better=1)  # the completed trial counts
