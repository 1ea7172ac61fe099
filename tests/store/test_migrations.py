"""Migrations on real databases: from empty, down, and up from an old revision with data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.errors import StoreError
from lrsearch.store.migrate import (
    current_revision,
    downgrade_lrsearch,
    ensure_current,
    head_revision,
    upgrade_lrsearch,
)


def _seed_revision_0001(engine: sa.Engine) -> None:
    """Rows as lrsearch 0001 wrote them (plain SQL: the models are at head, not at 0001)."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO lr_searches (name, status, spec_json, task, metric, direction, "
                "trial_budget, trials_claimed, n_complete, n_pruned, n_failed, n_retried, "
                "created_at, updated_at) VALUES ('old', 'done', :spec, 'digits-mlp', "
                "'val_accuracy', 'maximize', 3, 3, 2, 1, 0, 1, :t, :t)"
            ),
            {"t": now, "spec": json.dumps({"name": "old"})},
        )
        conn.execute(
            sa.text(
                "INSERT INTO lr_best (search_id, trial_number, value, config_json, updated_at) "
                "SELECT id, 1, 0.97, :config, :t FROM lr_searches"
            ),
            {"t": now, "config": json.dumps({"optimizer": "sgd"})},
        )


def test_upgrade_from_0001_with_data_loses_nothing(db_url: str) -> None:
    engine = store.make_engine(db_url)
    upgrade_lrsearch(engine, "0001")
    assert current_revision(engine) == "0001"
    _seed_revision_0001(engine)
    with pytest.raises(StoreError, match="lrsearch db upgrade"):
        ensure_current(engine)  # an outdated schema is refused, not silently used
    before, after = store.upgrade(db_url)
    assert (before, after) == ("0001", head_revision())
    search = store.get_search(engine, "old")
    assert (search.status, search.trial_budget, search.n_complete, search.n_pruned) == (
        "done",
        3,
        2,
        1,
    )
    assert search.spec == {"name": "old"} and search.n_retried == 1
    best = store.get_best(engine, "old")
    assert best is not None and (best.trial_number, best.value) == (1, 0.97)
    assert best.config == {"optimizer": "sgd"}
    tables = set(sa.inspect(engine).get_table_names())
    assert {"lr_trials", "lr_epoch_metrics"} <= tables
    engine.dispose()


def test_downgrade_to_0001_keeps_the_searches(db_url: str) -> None:
    engine = store.make_engine(db_url)
    upgrade_lrsearch(engine, "0001")
    _seed_revision_0001(engine)
    upgrade_lrsearch(engine)
    downgrade_lrsearch(engine, "0001")
    tables = set(sa.inspect(engine).get_table_names())
    assert "lr_trials" not in tables and "lr_epoch_metrics" not in tables
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM lr_searches")).scalars().all() == ["old"]
    upgrade_lrsearch(engine)
    assert store.get_search(engine, "old").n_complete == 2
    engine.dispose()


def test_upgrade_from_0007_marks_the_completed_trials_rows(db_url: str) -> None:
    """0008: the pruners' references are completed trials; rows written before it are marked
    from their trial's lease, and the downgrade drops the new columns."""
    engine = store.make_engine(db_url)
    upgrade_lrsearch(engine, "0007")
    _seed_revision_0001(engine)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for number, status in ((0, "complete"), (1, "pruned"), (2, "running")):
            conn.execute(
                sa.text(
                    "INSERT INTO lr_trials (search_id, trial_number, worker, status, "
                    "claimed_at, heartbeat_at) SELECT id, :n, 'w', :s, :t, :t FROM lr_searches"
                ),
                {"n": number, "s": status, "t": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO lr_epoch_metrics (search_id, trial_number, epoch, step, value, "
                    "decay_left) SELECT id, :n, 1, 10, 0.5, 1.0 FROM lr_searches"
                ),
                {"n": number},
            )
    upgrade_lrsearch(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT trial_number, complete, probe_value FROM lr_epoch_metrics "
                "ORDER BY trial_number"
            )
        ).all()
    assert [(n, bool(c), p) for n, c, p in rows] == [
        (0, True, None),
        (1, False, None),
        (2, False, None),
    ]
    downgrade_lrsearch(engine, "0007")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("lr_epoch_metrics")}
    assert "complete" not in columns and "probe_value" not in columns
    engine.dispose()
