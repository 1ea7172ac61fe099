"""A search whose first trials all fail alike is stopped by the transaction that counts the
last of them: on both backends, and with several processes recording failures at once."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.store.migrate import ensure_current

BUG = "error: RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x64 and 63x10)"


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    engine = store.make_engine(db_url)
    ensure_current(engine)
    yield engine
    engine.dispose()


def _new(engine: sa.Engine, name: str = "s", budget: int = 10) -> None:
    store.create_search(
        engine,
        name=name,
        spec={"name": name},
        task="digits-mlp",
        metric="val_accuracy",
        direction="maximize",
        trial_budget=budget,
    )


def _finish(engine: sa.Engine, number: int, outcome: str, reason: str | None = None) -> None:
    lease = store.claim_trial(engine, "s")
    assert lease is not None
    value = 0.5 if outcome == "complete" else None
    config = {} if outcome == "complete" else None
    assert store.record_trial(
        engine,
        lease,
        outcome=outcome,
        trial_number=number,
        value=value,
        config=config,
        reason=reason,
        stop_after_failures=3,
    )


def test_three_failures_with_the_same_error_stop_the_search(engine: sa.Engine) -> None:
    _new(engine)
    _finish(engine, 0, "failed", BUG)
    _finish(engine, 1, "failed", BUG)
    assert store.get_search(engine, "s").status == "running"
    _finish(engine, 2, "failed", BUG)
    search = store.get_search(engine, "s")
    assert search.status == "failed" and search.n_failed == 3
    assert search.error == f"stopped after 3 failed trials: {BUG}"
    assert store.claim_trial(engine, "s") is None  # nothing more is started


@pytest.mark.parametrize(
    "first",
    [("complete", None), ("pruned", None), ("failed", "error: ValueError: another bug")],
)
def test_a_success_or_another_error_first_keeps_the_search_going(
    engine: sa.Engine, first: tuple[str, str | None]
) -> None:
    _new(engine)
    _finish(engine, 0, *first)
    for number in range(1, 5):
        _finish(engine, number, "failed", BUG)
    assert store.get_search(engine, "s").status == "running"


def test_divergence_never_stops_a_search_and_zero_means_never(engine: sa.Engine) -> None:
    _new(engine)
    for number in range(4):
        _finish(engine, number, "failed", "diverged")
    assert store.get_search(engine, "s").status == "running"
    _new(engine, "z")
    for number in range(4):
        lease = store.claim_trial(engine, "z")
        assert lease is not None
        store.record_trial(
            engine, lease, outcome="failed", trial_number=number, reason=BUG, stop_after_failures=0
        )
    assert store.get_search(engine, "z").status == "running"


def _fail_one(url: str, number: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    engine = store.make_engine(url)
    lease = store.claim_trial(engine, "s", f"agent-{number}")
    assert lease is not None
    barrier.wait()  # all record at once
    store.record_trial(
        engine, lease, outcome="failed", trial_number=number, reason=BUG, stop_after_failures=3
    )
    engine.dispose()


def test_agents_failing_at_once_stop_the_search_from_the_database(
    db_url: str, engine: sa.Engine
) -> None:
    """Five processes record the same failure at the same moment: the decision is the
    database's, so the search is failed exactly once and every failure is counted."""
    _new(engine)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(5)
    procs = [ctx.Process(target=_fail_one, args=(db_url, n, barrier)) for n in range(5)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    search = store.get_search(engine, "s")
    assert (search.status, search.n_failed, search.trials_claimed) == ("failed", 5, 5)
    assert search.error == f"stopped after 3 failed trials: {BUG}"
