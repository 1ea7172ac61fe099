"""The rooms keep their import boundaries (DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("lrsearch.schedules", ("torch", "matplotlib", "optuna", "sqlalchemy")),
        ("lrsearch.train", ("optuna", "sqlalchemy")),
        ("lrsearch.api", ("torch", "matplotlib", "sklearn")),
        ("lrsearch.client", ("torch", "optuna", "sqlalchemy")),
        ("lrsearch.search.create", ("torch",)),
    ],
)
def test_importing_a_room_does_not_import(module: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
