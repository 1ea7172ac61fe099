"""Shared fixtures: real SQLite files and real PostgreSQL databases per test; small specs.

``db_url`` runs a test on both backends. Each PostgreSQL test gets a database of its own on the
server (LRSEARCH_TEST_POSTGRES, default postgres@127.0.0.1:5432), dropped afterwards. When the
server is unreachable those tests are skipped with the reason, except under CI (CI=true), where
they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.pgcluster import PgCluster

os.environ.setdefault("KERAS_BACKEND", "torch")  # keras (parity tests only) runs on torch


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for this test."""
    return f"sqlite:///{tmp_path / 'lrsearch.db'}"


@pytest.fixture
def make_spec() -> Callable[..., dict[str, Any]]:
    """A small digits search spec as a dict; keyword arguments override top-level sections."""

    def make(**overrides: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": "t",
            "task": "digits-mlp",
            "task_options": {"hidden": 32},
            "budget": {"trials": 4, "epochs": 2},
            "search": {"sampler": "random", "seed": 0, "pruner": "none"},
            "space": {"families": ["constant", "cosine"], "lr": [0.01, 0.3], "optimizers": ["sgd"]},
            "baselines": False,  # tests of the searched space; test_baselines.py has their own
        }
        spec.update(overrides)
        return spec

    return make


PG_ADMIN_URL = os.environ.get(
    "LRSEARCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL server, to create and drop test databases."""
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: sa.Engine) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards."""
    name = f"lrsearch_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on a SQLite file and on a PostgreSQL database."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster on its own port, to restart or stop (tests/pgcluster.py)."""
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
