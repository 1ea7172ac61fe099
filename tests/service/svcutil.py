"""A Backend over one in-memory SQLite database (lrsearch's tables and Optuna's, one
connection): service and route tests without a file or a server.

(Not in conftest.py: test modules import it, and ``from conftest import`` would find whichever
conftest module of the suite was imported first.)
"""

from __future__ import annotations

from typing import Any

import optuna
from fastapi.testclient import TestClient
from sqlalchemy.pool import StaticPool

from lrsearch.api import create_app
from lrsearch.config import Settings
from lrsearch.report import render
from lrsearch.service import Backend
from lrsearch.store.migrate import upgrade_lrsearch

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def memory_backend() -> Backend:
    """Optuna's storage on ``sqlite://`` with one shared connection; lrsearch's tables in it.

    (Not tuned with ``BEGIN IMMEDIATE``: tuning disposes the pool, which would drop the
    database; one connection serializes every transaction anyway.)
    """
    storage = optuna.storages.RDBStorage(
        "sqlite://",
        engine_kwargs={"poolclass": StaticPool, "connect_args": {"check_same_thread": False}},
    )
    upgrade_lrsearch(storage.engine)
    return Backend(url="sqlite://", writer=storage.engine, reader=storage.engine, _optuna=storage)


def memory_client(**settings: Any) -> TestClient:
    """The real app over a fresh in-memory database; ``settings`` override the defaults."""
    values: dict[str, Any] = {"storage_url": "sqlite://", "api_token": TOKEN} | settings
    return TestClient(
        create_app(Settings(**values), backend=memory_backend(), render_report=render)
    )
