"""The real app over real databases: a finished search per backend, and clients for it.

``finished_url`` is built once per test session and backend: a small digits search run to the end by
an in-process worker. Tests that write (submit, stop, delete) use fresh names in it or a
fresh database of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from apiutil import FINISHED, FINISHED_SPEC, make_client
from fastapi.testclient import TestClient

from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def finished_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database holding one finished search named ``finished`` (9 trials, 3 epochs each)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'lrsearch.db'}"
        drop: Callable[[], None] = lambda: None  # noqa: E731
    else:
        admin: sa.Engine = request.getfixturevalue("pg_admin")
        name = f"lrsearch_api_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    prepare_search(url, parse_spec(FINISHED_SPEC))
    run_worker(url, FINISHED, threads=1)
    yield url
    drop()


@pytest.fixture
def client(finished_url: str) -> Iterator[TestClient]:
    with make_client(finished_url) as test_client:
        yield test_client


@pytest.fixture
def fresh_name() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'empty.db'}"
