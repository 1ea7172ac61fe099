"""Shared by the API tests: the token, the finished search's spec, a client over a database.

(Not in conftest.py: test modules import these, and ``from conftest import`` would find whichever
conftest module of the suite was imported first.)
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from lrsearch.api import create_app
from lrsearch.config import Settings
from lrsearch.report import render

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FINISHED = "finished"

FINISHED_SPEC: dict[str, Any] = {
    "name": FINISHED,
    "task": "digits-mlp",
    "task_options": {"hidden": 16},
    "budget": {"trials": 2, "epochs": 3},  # 2 searched trials, then the 7 baselines
    "search": {"sampler": "random", "seed": 1, "pruner": "median", "startup_trials": 2},
    "space": {
        "families": ["constant", "cosine", "step"],
        "lr": [0.005, 0.5],
        "optimizers": ["sgd"],
        "warmup": [0.0, 0.1],
    },
}


def make_client(url: str, **settings: Any) -> TestClient:
    values: dict[str, Any] = {"storage_url": url, "api_token": TOKEN} | settings
    return TestClient(create_app(Settings(**values), render_report=render))
