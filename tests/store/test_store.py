"""lrsearch's tables on a real database: migrations, exact claims, the materialized best."""

from __future__ import annotations

import multiprocessing
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lrsearch import store
from lrsearch.errors import (
    ConflictError,
    ControlFlow,
    LeaseLost,
    LRSearchError,
    NotFoundError,
    StoreError,
    StoreUnavailable,
    WorkerStopped,
)
from lrsearch.store.migrate import (
    VERSION_TABLE,
    current_revision,
    downgrade_lrsearch,
    ensure_current,
    head_revision,
)
from lrsearch.store.models import metadata


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    engine = store.make_engine(db_url)
    ensure_current(engine)
    yield engine
    engine.dispose()


def _new(engine: sa.Engine, name: str = "s", budget: int = 3, direction: str = "maximize") -> None:
    store.create_search(
        engine,
        name=name,
        spec={"name": name},
        task="digits-mlp",
        metric="val_accuracy",
        direction=direction,
        trial_budget=budget,
    )


def test_upgrade_creates_both_schemas_and_downgrade_removes_only_ours(db_url: str) -> None:
    before, after = store.upgrade(db_url)
    assert (before, after) == (None, head_revision())
    engine = store.make_engine(db_url)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"lr_searches", "lr_best", VERSION_TABLE, "studies", "trials"} <= tables
    assert store.upgrade(db_url) == (head_revision(), head_revision())  # idempotent
    downgrade_lrsearch(engine, "base")
    tables = set(sa.inspect(engine).get_table_names())
    assert not {"lr_searches", "lr_best"} & tables and {"studies", "trials"} <= tables
    assert current_revision(engine) is None
    engine.dispose()


def test_models_match_the_migrations(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, parent: (
                    kind != "table" or str(name).startswith("lr_")
                )
            },
        )
        assert compare_metadata(context, metadata) == []


def test_a_schema_at_another_revision_is_refused_with_the_command(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff'"))
    with pytest.raises(StoreError, match="run `lrsearch db upgrade --storage"):
        ensure_current(engine)


def test_names_are_unique_and_unknown_names_are_not_found(engine: sa.Engine) -> None:
    _new(engine)
    with pytest.raises(ConflictError, match="already exists"):
        _new(engine)
    with pytest.raises(NotFoundError):
        store.get_search(engine, "missing")
    assert store.find_search(engine, "missing") is None


def test_claims_stop_at_the_budget_and_released_slots_come_back(engine: sa.Engine) -> None:
    _new(engine, budget=2)
    leases = [store.claim_trial(engine, "s", "w") for _ in range(3)]
    assert leases[0] is not None and leases[1] is not None and leases[2] is None
    assert store.release_trial(engine, leases[0])
    assert not store.release_trial(engine, leases[0])  # a lease is released once
    assert store.claim_trial(engine, "s") and not store.claim_trial(engine, "s")
    search = store.get_search(engine, "s")
    assert (search.trials_claimed, search.n_retried, search.status) == (2, 1, "running")


def test_stopping_searches_are_not_claimed(engine: sa.Engine) -> None:
    _new(engine, budget=5)
    store.set_status(engine, "s", "stopping")
    assert not store.claim_trial(engine, "s")


def _claim_all(url: str, name: str) -> int:
    engine = store.make_engine(url)
    won = 0
    while store.claim_trial(engine, name) is not None:
        won += 1
    engine.dispose()
    return won


def test_concurrent_processes_claim_exactly_the_budget(db_url: str, engine: sa.Engine) -> None:
    _new(engine, budget=60)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        won = pool.starmap(_claim_all, [(db_url, "s")] * 4)
    assert sum(won) == 60
    assert store.get_search(engine, "s").trials_claimed == 60


@pytest.mark.parametrize(
    ("direction", "values", "best"),
    [("maximize", [0.5, 0.7, 0.6], (1, 0.7)), ("minimize", [0.5, 0.7, 0.4], (2, 0.4))],
)
def test_the_best_is_kept_with_the_counts(
    engine: sa.Engine, direction: str, values: list[float], best: tuple[int, float]
) -> None:
    _new(engine, budget=4, direction=direction)
    for number, value in enumerate(values):
        lease = store.claim_trial(engine, "s")
        assert lease is not None
        assert store.record_trial(
            engine,
            lease,
            outcome="complete",
            trial_number=number,
            value=value,
            config={"trial": number},
        )
    lease = store.claim_trial(engine, "s")
    assert lease is not None
    assert store.record_trial(engine, lease, outcome="pruned", trial_number=3)
    assert not store.record_trial(engine, lease, outcome="pruned", trial_number=3)  # once
    found = store.get_best(engine, "s")
    assert found is not None and (found.trial_number, found.value) == best
    assert found.config == {"trial": best[0]}
    search = store.get_search(engine, "s")
    assert (search.n_complete, search.n_pruned, search.status) == (3, 1, "done")
    assert search.created_at.tzinfo is not None


def test_bad_and_unreachable_urls_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not usable"):
        store.make_engine("nosuchdialect://x")
    engine = store.make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    with pytest.raises(StoreError, match="cannot reach the database"):
        ensure_current(engine)


def test_stale_leases_are_reaped_once_and_fresh_ones_are_kept(engine: sa.Engine) -> None:
    _new(engine, budget=3)
    dead, alive = store.claim_trial(engine, "s", "dead"), store.claim_trial(engine, "s", "alive")
    assert dead is not None and alive is not None
    store.start_trial(engine, dead, trial_number=0, optuna_trial_id=10)
    with engine.begin() as conn:  # the dead worker's last heartbeat was a minute ago
        conn.execute(
            sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(seconds=60), "i": dead.id},
        )
    assert store.heartbeat(engine, [alive.id]) == set()
    stale = store.stale_leases(engine, older_than_s=30)
    assert [(s.id, s.trial_number, s.optuna_trial_id) for s in stale] == [(dead.id, 0, 10)]
    assert store.reap_lease(engine, stale[0], 30, outcome=store.Outcome.LOST)
    assert not store.reap_lease(engine, stale[0], 30, outcome=store.Outcome.LOST)  # one reaper
    assert store.heartbeat(engine, [dead.id, alive.id]) == {dead.id}  # the dead one learns it
    assert not store.record_trial(
        engine, dead, outcome="complete", trial_number=0, value=1.0, config={}
    )
    search = store.get_search(engine, "s")
    assert (search.trials_claimed, search.n_retried, search.n_complete) == (1, 1, 0)


def test_stop_lets_running_trials_finish_then_the_search_is_done(engine: sa.Engine) -> None:
    _new(engine, budget=5)
    lease = store.claim_trial(engine, "s")
    assert lease is not None
    assert store.stop_search(engine, "s").status == "stopping"
    assert store.claim_trial(engine, "s") is None
    store.record_trial(engine, lease, outcome="complete", trial_number=0, value=0.5, config={})
    assert store.get_search(engine, "s").status == "done"


def test_epoch_metrics_are_kept_per_trial(engine: sa.Engine) -> None:
    _new(engine)
    search = store.get_search(engine, "s")
    rows = [
        (
            epoch,
            {
                "step": 10 * (epoch + 1),
                "train_loss": 1.0 / (epoch + 1),
                "lr": 0.1,
                "seconds": 0.5 * epoch,
            },
            0.5 + epoch / 10,
        )
        for epoch in range(3)
    ]
    store.record_epochs(engine, search.id, 7, rows)
    store.record_epochs(engine, search.id, 8, [(0, {"train_loss": float("nan")}, float("inf"))])
    store.record_epochs(engine, search.id, 9, [])
    kept = store.epochs_of(engine, "s", 7)
    assert [(r["epoch"], r["step"], r["value"]) for r in kept] == [
        (0, 10, 0.5),
        (1, 20, 0.6),
        (2, 30, 0.7),
    ]
    assert store.epochs_of(engine, "s", 8)[0]["value"] is None  # non-finite is stored as NULL
    assert store.epochs_of(engine, "s", 9) == []


def test_a_retried_epoch_insert_after_a_lost_commit_reply_is_harmless(engine: sa.Engine) -> None:
    """The first try committed; its reply was lost; the retry writes the same rows again."""
    _new(engine)
    search = store.get_search(engine, "s")
    rows = [(epoch, {"step": epoch + 1, "lr": 0.1}, 0.5) for epoch in range(3)]
    store.record_epochs(engine, search.id, 0, rows)
    store.record_epochs(engine, search.id, 0, [*rows, (3, {"step": 4}, 0.6)])  # no IntegrityError
    assert [r["epoch"] for r in store.epochs_of(engine, "s", 0)] == [0, 1, 2, 3]


def _skew_host_clock(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """Every Python clock lrsearch's store modules could read runs ``by`` off."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Skewed:  # type: ignore[override]
            return datetime.now(tz) + by  # type: ignore[return-value]

    for name, module in list(sys.modules.items()):
        if name.startswith("lrsearch.store") and hasattr(module, "datetime"):
            monkeypatch.setattr(module, "datetime", Skewed)


def test_staleness_is_judged_by_the_database_clock_not_two_hosts(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose host clock is two minutes behind beats; another host judges it."""
    _new(engine)
    with monkeypatch.context() as behind:
        _skew_host_clock(behind, timedelta(minutes=-2))
        lease = store.claim_trial(engine, "s", "behind")
        assert lease is not None
        assert store.heartbeat(engine, [lease.id]) == set()
    assert store.stale_leases(engine, older_than_s=30) == []  # it beat just now
    _age(engine, lease.id, seconds=60)
    assert [s.id for s in store.stale_leases(engine, older_than_s=30)] == [lease.id]


def _age(engine: sa.Engine, lease_id: int, seconds: float) -> None:
    """The lease last beat ``seconds`` ago, by the database's clock."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(seconds=seconds), "i": lease_id},
        )


def test_a_reaped_running_lease_keeps_its_requeue_pending_until_done(engine: sa.Engine) -> None:
    """Closing the lease and marking the re-queue are one transaction; clearing it is last."""
    _new(engine)
    lease = store.claim_trial(engine, "s", "dead")
    assert lease is not None and store.start_trial(engine, lease, 0, optuna_trial_id=7)
    _age(engine, lease.id, seconds=60)
    (stale,) = store.stale_leases(engine, older_than_s=30)
    assert store.reap_lease(engine, stale, 30, outcome=store.Outcome.LOST)
    assert store.pending_requeues(engine, older_than_s=30) == []  # its reaper is on it
    _age(engine, lease.id, seconds=60)  # ... and died
    (pending,) = store.pending_requeues(engine, older_than_s=30)
    assert (pending.optuna_trial_id, pending.attempt, pending.outcome) == (7, 1, store.Outcome.LOST)
    assert store.claim_requeue(engine, lease.id, 30)
    assert not store.claim_requeue(engine, lease.id, 30)  # one reaper takes it over
    store.requeue_done(engine, lease.id)
    _age(engine, lease.id, seconds=60)
    assert store.pending_requeues(engine, older_than_s=30) == []


def test_a_missing_database_or_schema_is_a_store_error(tmp_path: Path) -> None:
    missing = store.make_engine(f"sqlite:///{tmp_path / 'missing.db'}")
    with pytest.raises(StoreError, match="no database file") as raised:
        store.require_current(missing)
    assert not isinstance(raised.value, NotFoundError)
    empty = store.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with empty.begin() as conn:
        conn.execute(sa.text("CREATE TABLE unrelated (x INTEGER)"))
    with pytest.raises(StoreError, match="no lrsearch tables"):
        store.require_current(empty)


def test_control_flow_signals_are_not_user_errors() -> None:
    for signal in (WorkerStopped("stop"), LeaseLost("lost")):
        assert isinstance(signal, ControlFlow) and not isinstance(signal, Exception)
        with pytest.raises(ControlFlow):
            try:
                raise signal
            except LRSearchError:  # what entry points catch
                pytest.fail("an LRSearchError handler swallowed a control-flow signal")
    assert issubclass(StoreUnavailable, StoreError)
