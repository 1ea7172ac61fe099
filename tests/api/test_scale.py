"""Listing studies and reading the best never load trials: a 20,000-trial study costs what a
10-trial one does, counted in SQL statements, on SQLite and PostgreSQL.

The large study is made by ``tests.bigstudy.build_study`` (Optuna's and lrsearch's tables
filled in bulk, seconds instead of minutes). Every statement the app's engines send during a
request is recorded with SQLAlchemy's ``before_cursor_execute`` event: the writer, the reader
and Optuna's storage engine (opened up front, so that a read that went through Optuna's storage
would be counted too). No timings are asserted: statement counts are what does not depend on
the machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from apiutil import make_client
from fastapi.testclient import TestClient
from optuna.storages._rdb import models as optuna_models

from lrsearch import store
from lrsearch.service import Backend
from tests.bigstudy import build_study

SMALL, BIG = "small", "big"
N_SMALL, N_BIG = 10, 20_000

# Optuna's per-trial tables (trials, trial_params, trial_values, ...), from its own models.
TRIAL_TABLES = sorted(
    table.name
    for table in optuna_models.BaseModel.metadata.sorted_tables
    if table.name.startswith("trial")
)
TOUCHES_TRIALS = re.compile(r"\b(" + "|".join(TRIAL_TABLES) + r")\b", re.IGNORECASE)


@contextmanager
def recorded(backend: Backend) -> Iterator[list[tuple[str, str]]]:
    """(engine, statement) for every statement the app's engines execute inside the block."""
    statements: list[tuple[str, str]] = []
    engines = {
        "writer": backend.writer,
        "reader": backend.reader,
        "optuna": backend.optuna_storage().engine,
    }
    listeners = []
    for label, engine in engines.items():

        def record(*args: Any, _label: str = label) -> None:
            statements.append((_label, str(args[2])))  # (conn, cursor, statement, ...)

        sa.event.listen(engine, "before_cursor_execute", record)
        listeners.append((engine, record))
    try:
        yield statements
    finally:
        for engine, record in listeners:
            sa.event.remove(engine, "before_cursor_execute", record)


def _cost(client: TestClient, path: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The response of a GET (which must succeed) and the statements it cost."""
    backend: Backend = client.app.state.backend  # type: ignore[attr-defined]
    with recorded(backend) as statements:
        response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json(), list(statements)


def _reads(client: TestClient, name: str) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    return {
        "list": _cost(client, "/v1/studies"),
        "study": _cost(client, f"/v1/studies/{name}"),
        "best": _cost(client, f"/v1/studies/{name}/best"),
    }


def _optuna_best(url: str, name: str) -> optuna.trial.FrozenTrial:
    storage = store.make_optuna_storage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage).best_trial
    finally:
        storage.engine.dispose()


@pytest.mark.slow
def test_reads_cost_the_same_for_10_and_20000_trials(db_url: str) -> None:
    build_study(db_url, SMALL, N_SMALL, seed=1)
    with make_client(db_url) as client:
        _reads(client, SMALL)  # warm-up: connections, and PostgreSQL's dialect set-up queries
        small = _reads(client, SMALL)
        build_study(db_url, BIG, N_BIG, seed=2)
        big = _reads(client, BIG)

    for read in ("list", "study", "best"):
        small_sql = [sql for _, sql in small[read][1]]
        big_sql = [sql for _, sql in big[read][1]]
        assert small_sql, f"{read}: no statement recorded"
        assert len(big_sql) == len(small_sql), (read, small_sql, big_sql)
        for engine, sql in small[read][1] + big[read][1]:
            assert engine != "optuna", f"{read} went through Optuna's storage: {sql}"
            assert not TOUCHES_TRIALS.search(sql), f"{read} touches Optuna's trials: {sql}"

    # The answers are right.
    assert small["list"][0]["count"] == 1
    listed = big["list"][0]
    assert listed["count"] == 2
    assert [s["name"] for s in listed["data"]] == [SMALL, BIG]
    study = big["study"][0]
    assert study["status"] == "done"
    assert study["counts"]["complete"] + study["counts"]["pruned"] == N_BIG
    assert study["counts"]["running"] == study["counts"]["remaining"] == 0

    best_trial = _optuna_best(db_url, BIG)
    best = big["best"][0]
    assert best["value"] == best_trial.value
    assert best["trial_number"] == best_trial.number
    assert best["schedule"] == best_trial.user_attrs["schedule"]
    assert (study["best_value"], study["best_trial"]) == (best_trial.value, best_trial.number)
    assert listed["data"][1]["best_value"] == best_trial.value
    assert small["best"][0]["value"] == _optuna_best(db_url, SMALL).value
