"""lrsearch's tables on a real database: migrations, exact claims, the materialized best."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lrsearch import store
from lrsearch.errors import ConflictError, NotFoundError, StoreError
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
    assert store.reap_lease(engine, stale[0], 30, outcome="released")
    assert not store.reap_lease(engine, stale[0], 30, outcome="released")  # only one reaper wins
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
