"""The anneal pruner (``search.pruner = "anneal"``): decisions at its probe rungs on real
databases.

As in test_pruning.py, the reference trials' rows are written straight to ``lr_epoch_metrics``
(value, decay left and annealed value per epoch, as the ledger writes them); the trial under
judgement is a real running trial of a real search, reporting through the worker's ledger, its
annealed value in the report's metrics (``probe_value``) as a Trial's probe puts it there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.factory import make_pruner
from lrsearch.search.ledger import RunningTrial
from lrsearch.search.pruning import (
    NO_PROBE_BELOW,
    SLACK,
    AnnealGain,
    AnnealProbePruner,
    ScheduleAwarePruner,
    decay_left,
    probe_rungs,
)
from lrsearch.spec import parse_spec
from lrsearch.store import Outcome
from lrsearch.store.models import epoch_metrics
from tests.search.rungutil import Rungs, _spec

EPOCHS = 9
RUNG = 2  # probe_rungs(9) == (2, 5): 2 is the report at a third of the run
EARLY, LATE = 1.0, 3.0  # decay left at RUNG: exponential-like, WSD-like

# At RUNG: six early decayers look good raw (0.50 .. 0.55) and anneal a little (0.45 .. 0.50);
# six late decayers look worse raw (0.80 .. 1.00) and anneal to the best values (0.30 .. 0.40).
EARLY_RAW = [0.50 + 0.01 * i for i in range(6)]
EARLY_ANNEALED = [0.45 + 0.01 * i for i in range(6)]
LATE_RAW = [0.80, 0.82, 0.88, 0.90, 0.95, 1.00]
LATE_ANNEALED = [0.30, 0.32, 0.34, 0.36, 0.38, 0.40]


def test_the_probe_rungs_and_the_factory() -> None:
    assert probe_rungs(EPOCHS) == (RUNG, 5)
    pruner = make_pruner(parse_spec(_spec("f", epochs=EPOCHS, startup=3, pruner="anneal")))
    assert isinstance(pruner, AnnealProbePruner)
    assert (pruner.min_references, pruner.warmup_rungs) == (3, 1)
    assert [e for e in range(EPOCHS) if pruner.probes_at(e, EPOCHS)] == [RUNG, 5]
    assert [e for e in range(EPOCHS) if pruner.before_probes(e, EPOCHS)] == [0, 1]
    assert not pruner.before_probes(0, 2)  # too short to probe: no rung is "before" one


def test_before_the_first_probe_rung_raw_values_are_compared_with_every_trial(
    rungs: Rungs,
) -> None:
    early = RUNG - 1  # past the warm-up, before the first probe
    assert early >= 1 and early not in probe_rungs(EPOCHS)
    # Six early decayers at 0.50 .. 0.55 and six late decayers at 0.80 .. 1.00, raw.
    for i, raw in enumerate(EARLY_RAW):
        rungs.curve(100 + i, {early: raw}, {early: EARLY})
    for i, raw in enumerate(LATE_RAW):
        rungs.curve(200 + i, {early: raw}, {early: LATE})
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    # The schedule-aware rule would compare this late decayer with the six late ones only, and
    # keep it (0.85 beats four of them); among all twelve, eight are better: pruned, as the
    # median pruner prunes it.
    assert _standing_at(rungs, run, early, 0.85, decay_floor=LATE - SLACK).better == 2
    prune, statements = rungs.report(run, early, 0.85)
    assert prune is True and statements >= 1
    assert _row(rungs, run, early).probe_value is None  # no probe, no annealed value
    kept = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert rungs.report(kept, early, 0.52)[0] is False  # two of twelve better


@pytest.fixture
def rungs(db_url: str) -> Iterator[Rungs]:
    made = Rungs(db_url, parse_spec(_spec("anneal", epochs=EPOCHS, pruner="anneal")))
    assert isinstance(made.study.pruner, AnnealProbePruner)
    yield made
    made.ledger.close()


def _population(rungs: Rungs) -> None:
    """The twelve searched trials above, and seven baselines (no decay left, no annealed
    value) that look best of all raw."""
    for i, (raw, annealed) in enumerate(zip(EARLY_RAW, EARLY_ANNEALED, strict=True)):
        rungs.curve(100 + i, {RUNG: raw}, {RUNG: EARLY}, {RUNG: annealed})
    for i, (raw, annealed) in enumerate(zip(LATE_RAW, LATE_ANNEALED, strict=True)):
        rungs.curve(200 + i, {RUNG: raw}, {RUNG: LATE}, {RUNG: annealed})
    for i in range(7):
        rungs.curve(300 + i, {RUNG: 0.1}, {RUNG: None})


def _row(rungs: Rungs, run: RunningTrial, epoch: int) -> Any:
    """The trial's stored row at ``epoch`` (written now)."""
    rungs.ledger.record_epochs(run)
    m = epoch_metrics.c
    with store.transaction(rungs.ledger.engine) as conn:
        return conn.execute(
            sa.select(m.value, m.decay_left, m.probe_value).where(
                m.search_id == rungs.row.id, m.trial_number == run.number, m.epoch == epoch
            )
        ).one()


def _standing(rungs: Rungs, run: RunningTrial, value: float, **kw: Any) -> store.RungStanding:
    return _standing_at(rungs, run, RUNG, value, **kw)


def _standing_at(
    rungs: Rungs, run: RunningTrial, epoch: int, value: float, **kw: Any
) -> store.RungStanding:
    with store.transaction(rungs.ledger.engine) as conn:
        return store.rung_standing(
            conn, rungs.row.id, epoch, trial_number=run.number, value=value, maximize=False, **kw
        )


def test_a_late_decayer_with_a_good_annealed_value_is_kept(rungs: Rungs) -> None:
    _population(rungs)
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert decay_left(run.schedule, (RUNG + 1) / EPOCHS) == pytest.approx(LATE)  # type: ignore[arg-type]
    raw = sorted(EARLY_RAW + LATE_RAW)
    assert raw[len(raw) // 2] < 0.85  # worse than the raw median: the median pruner prunes it
    raw_standing = _standing(rungs, run, 0.85, decay_floor=-math.inf)
    assert rungs.study.pruner.decides(raw_standing, 0.85)  # type: ignore[attr-defined]
    prune, statements = rungs.report(run, RUNG, 0.85, probe_value=0.35)
    assert prune is False  # 3 of the 12 annealed values are better
    assert statements >= 1
    row = _row(rungs, run, RUNG)
    assert (row.value, row.probe_value) == (0.85, 0.35)
    assert row.decay_left == pytest.approx(LATE)


def test_a_trial_whose_annealed_value_is_bad_is_pruned(rungs: Rungs) -> None:
    _population(rungs)
    middling = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    # Raw 0.7 beats the six late decayers' raw values, but annealed (0.6) it is worse than
    # all twelve annealed values: pruned (compared with raw values it would be kept).
    assert _standing(rungs, middling, 0.6, decay_floor=-math.inf).better == 6
    assert rungs.report(middling, RUNG, 0.7, probe_value=0.6)[0] is True
    diverging = rungs.running(ScheduleSpec.create("cosine", lr=0.1))
    assert rungs.report(diverging, RUNG, 2.5, probe_value=40.0)[0] is True


def test_a_constant_trial_is_judged_on_its_raw_value_and_stores_it_as_annealed(
    rungs: Rungs,
) -> None:
    _population(rungs)
    constant = ScheduleSpec.create("constant", lr=0.1)
    assert decay_left(constant, (RUNG + 1) / EPOCHS) < NO_PROBE_BELOW
    bad = rungs.running(constant)
    # 0.6 beats the six late decayers raw, so the schedule-aware rule keeps it (6 of 12
    # better); among the annealed values all twelve are better: pruned.
    schedule_rule = ScheduleAwarePruner(min_references=3)
    raw = _standing(rungs, bad, 0.6, decay_floor=0.0 - SLACK)
    assert raw == store.RungStanding(12, 6) and not schedule_rule.decides(raw, 0.6)
    assert rungs.report(bad, RUNG, 0.6)[0] is True
    assert _row(rungs, bad, RUNG).probe_value == 0.6
    good = rungs.running(constant)
    assert (
        rungs.report(good, RUNG, 0.35)[0] is False
    )  # 3 of the 12 completed trials' annealed values better
    assert _row(rungs, good, RUNG).probe_value == 0.35
    # A running trial's annealed value is no reference; once it completes, it is one.
    assert _standing(rungs, bad, 0.6, decay_floor=0.0, annealed=True) == store.RungStanding(12, 12)
    assert rungs.ledger.finish(good, Outcome.COMPLETE, value=0.35, config={"x": 1})
    annealed = _standing(rungs, bad, 0.6, decay_floor=0.0, annealed=True)
    assert annealed == store.RungStanding(13, 13)


@pytest.mark.parametrize(("value", "prunes"), [(0.85, False), (0.97, True)])
def test_a_probe_rung_without_a_probe_value_falls_back_to_the_schedule_rule(
    rungs: Rungs, value: float, prunes: bool
) -> None:
    _population(rungs)
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    # The schedule-aware rule: the six late decayers are comparable (decay left >= 3 - SLACK).
    expected = _standing(rungs, run, value, decay_floor=LATE - SLACK)
    assert expected.references == 6
    pruner = rungs.study.pruner
    assert isinstance(pruner, AnnealProbePruner)
    assert pruner.decides(expected, value) is prunes
    # Its raw value taken as an annealed value would be worse than all twelve: pruned.
    assert _standing(rungs, run, value, decay_floor=0.0, annealed=True).better == 12
    prune, statements = rungs.report(run, RUNG, value)
    assert prune is prunes and statements >= 1
    row = _row(rungs, run, RUNG)
    assert row.probe_value is None  # no annealed value: never an annealed reference
    assert row.decay_left == pytest.approx(LATE)


def test_between_probes_the_annealed_value_is_estimated_from_the_last_probe(
    rungs: Rungs,
) -> None:
    _population(rungs)
    after = RUNG + 1  # not a probe rung
    assert after not in probe_rungs(EPOCHS)
    for i in range(6):  # six trials' (estimated) annealed values there: 0.40 .. 0.45
        rungs.curve(400 + i, {after: 0.9}, {after: LATE}, {after: 0.40 + 0.01 * i})
    good = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert rungs.report(good, 0, 9.0) == (False, 0)  # the warm-up rung: no query
    assert rungs.report(good, RUNG, 0.85, probe_value=0.35)[0] is False  # gain -0.5
    # WSD's stable phase: all of the probe's decay is still ahead, so the whole gain counts.
    assert decay_left(good.schedule, (after + 1) / EPOCHS) == pytest.approx(LATE)  # type: ignore[arg-type]
    prune, statements = rungs.report(good, after, 0.84)
    assert prune is False and statements >= 1  # 0.34: better than all six
    assert _row(rungs, good, after).probe_value == pytest.approx(0.34)
    bad = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert rungs.report(bad, RUNG, 0.85, probe_value=0.35)[0] is False
    assert rungs.report(bad, after, 1.2)[0] is True  # 0.70: worse than all seven
    # Code that never probed, with decay left: the schedule-aware rule, no annealed value.
    unprobed = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    prune, statements = rungs.report(unprobed, after, 0.85)
    assert prune is False and statements >= 1  # raw 0.85 beats the six 0.9 (decay LATE)
    assert _row(rungs, unprobed, after).probe_value is None


def test_the_gain_estimate_shrinks_with_the_lr_still_above_the_lowest() -> None:
    gain = AnnealGain(gain=-0.5, decay_left=2.0)  # probed at 100x the lowest LR ahead
    assert gain.estimate(1.0, 2.0) == pytest.approx(0.5)
    assert gain.estimate(1.0, 1.0) == pytest.approx(1.0 - 0.5 * 9 / 99)  # at 10x: 9/99 left
    # A cosine from 0.69 to 0.5 of its peak (lowest ahead: the floor): 72 % of the gain.
    cosine = ScheduleSpec.create("cosine", lr=1.0)
    at_probe, later = decay_left(cosine, 0.375), decay_left(cosine, 0.5)
    share = (AnnealGain(-1.0, at_probe).estimate(0.0, later)) / -1.0
    assert share == pytest.approx((0.5 - 0.001) / (0.6913 - 0.001), abs=0.01)
    assert gain.estimate(1.0, 0.0) == 1.0  # decayed: the value is its annealed value
    assert gain.estimate(1.0, 5.0) == pytest.approx(0.5)  # never more than the probe saw
    assert AnnealGain(-0.5, 0.0).estimate(1.0, 1.0) == 1.0


def test_a_decision_costs_the_same_statements_at_any_epoch_and_any_trial_count(
    db_url: str,
) -> None:
    costs = {}
    for epochs, epoch in ((6, 1), (1800, 599)):
        assert epoch in probe_rungs(epochs)
        rungs = Rungs(db_url, parse_spec(_spec(f"cost{epochs}", epochs=epochs, pruner="anneal")))
        try:
            for n_trials in (10, 1000):
                start = 1000 * n_trials
                for i in range(n_trials):
                    rungs.curve(start + i, {epoch: 1.0 + i}, {epoch: 2.0}, {epoch: 0.5 + i})
                run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
                prune, statements = rungs.report(run, epoch, 1.0e6, probe_value=1.0e6)
                assert prune is True  # worse than every reference
                costs[epoch, n_trials] = statements
        finally:
            rungs.ledger.close()
    # One read in its own transaction (SQLite's BEGIN IMMEDIATE counts as a statement).
    assert len(set(costs.values())) == 1 and max(costs.values()) <= 2, costs


def test_the_annealed_rung_query_reads_the_probe_index(sqlite_url: str) -> None:
    rungs = Rungs(sqlite_url, parse_spec(_spec("plan", epochs=EPOCHS, pruner="anneal")))
    try:
        _population(rungs)
        captured: list[tuple[str, Any]] = []

        def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "lr_epoch_metrics" in statement and "count" in statement:
                captured.append((statement, parameters))

        sa.event.listen(rungs.ledger.engine, "before_cursor_execute", capture)
        run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
        rungs.report(run, RUNG, 1.0, probe_value=0.5)
        assert len(captured) == 1
        statement, parameters = captured[0]
        assert "probe_value" in statement
        with rungs.ledger.engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        assert any("ix_lr_epoch_metrics_probe" in str(row) for row in plan), plan
    finally:
        rungs.ledger.close()


def test_too_few_annealed_references_never_prune(rungs: Rungs) -> None:
    for i in range(2):  # startup_trials = 3: two annealed references are not enough
        rungs.curve(100 + i, {RUNG: 0.1}, {RUNG: LATE}, {RUNG: 0.1})
    for i in range(5):  # rows without an annealed value (fallback trials) are no references
        rungs.curve(200 + i, {RUNG: 0.1}, {RUNG: LATE})
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    prune, statements = rungs.report(run, RUNG, 9.0, probe_value=9.0)
    assert prune is False and statements >= 1  # asked, and too few to judge
    rungs.curve(102, {RUNG: 0.1}, {RUNG: LATE}, {RUNG: 0.1})  # the third one
    other = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    assert rungs.report(other, RUNG, 9.0, probe_value=9.0)[0] is True


@pytest.mark.parametrize("annealed", [math.inf, math.nan])
def test_a_probe_that_diverged_is_the_worst_annealed_value(rungs: Rungs, annealed: float) -> None:
    _population(rungs)
    run = rungs.running(ScheduleSpec.create("wsd", lr=0.1))
    # Raw 0.85: the schedule-aware fallback keeps it (2 of the 6 late decayers are better).
    fallback = _standing(rungs, run, 0.85, decay_floor=LATE - SLACK)
    assert fallback == store.RungStanding(6, 2)
    assert rungs.report(run, RUNG, 0.85, probe_value=annealed)[0] is True
