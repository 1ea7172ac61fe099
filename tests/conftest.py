"""Shared fixtures: real SQLite files per test, and small real search specs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
        }
        spec.update(overrides)
        return spec

    return make
