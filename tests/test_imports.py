"""The rooms keep their import boundaries (DESIGN.md).

At run time: importing a room loads none of the heavy packages it must not need. Statically:
the import contracts in pyproject.toml (``lint-imports``, run by ``make lint``) hold the map of
arrows; these tests prove on copies of the package that a forbidden import breaks them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("lrsearch.schedules", ("torch", "matplotlib", "optuna", "sqlalchemy")),
        ("lrsearch.train", ("optuna", "sqlalchemy")),
        ("lrsearch.api", ("torch", "matplotlib", "sklearn")),
        ("lrsearch.client", ("torch", "optuna", "sqlalchemy")),
        ("lrsearch.service", ("torch",)),
        ("lrsearch", ("torch", "numpy", "optuna", "sqlalchemy")),
        ("lrsearch.trial", ("torch", "optuna", "sqlalchemy", "matplotlib")),
    ],
)
def test_importing_a_room_does_not_import(module: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# --- Import contracts (pyproject's [tool.importlinter], checked by lint-imports in make lint) ---

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"]
PENDING = re.compile(
    r"^# >>> needs (?P<needs>.+)\n(?P<body>.*?)^# <<< needs (?P=needs)$", re.M | re.S
)


def _pending_blocks() -> dict[tuple[str, ...], str]:
    """The contracts waiting in pyproject.toml for rooms being written: needed modules -> TOML."""
    blocks = {}
    for match in PENDING.finditer(PYPROJECT.read_text()):
        lines = match["body"].splitlines()
        assert all(line.startswith("#") for line in lines), "a pending block is half enabled"
        blocks[tuple(match["needs"].split())] = "\n".join(line[2:] for line in lines)
    return blocks


def _lint_a_copy(
    tmp_path: Path, edits: dict[str, str], extra_config: str = ""
) -> tuple[int, dict[str, str], str]:
    """lint-imports over a copy of lrsearch/ with ``edits`` (path -> text appended or created).

    Returns the exit code, each contract's status (KEPT or BROKEN) and the whole report. Only
    the copy is importable (PYTHONPATH, and the copy as working directory).
    """
    shutil.copytree(
        ROOT / "lrsearch", tmp_path / "lrsearch", ignore=shutil.ignore_patterns("__pycache__")
    )
    for relative, text in edits.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.write(text)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.read_text() + "\n" + extra_config)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [*LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    statuses = dict(re.findall(r"^(.+?) (KEPT|BROKEN)\b", report, re.M))
    return done.returncode, statuses, report


def test_a_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    _, before, report = _lint_a_copy(clean, {})
    assert before.get("schedules -> (nothing of ours)") == "KEPT", report

    broken = tmp_path / "broken"
    injected = {"lrsearch/schedules/__init__.py": "\nimport lrsearch.search  # noqa\n"}
    code, after, report = _lint_a_copy(broken, injected)
    assert code == 1, report
    assert after["schedules -> (nothing of ours)"] == "BROKEN", report
    assert "lrsearch.schedules is not allowed to import lrsearch.search" in report
    assert "lrsearch.schedules -> lrsearch.search" in report
    changed = {name for name, status in before.items() if after.get(name) != status}
    assert changed == {"schedules -> (nothing of ours)"}, report


def test_torch_in_a_torch_free_room_breaks_its_contract(tmp_path: Path) -> None:
    injected = {"lrsearch/spec/__init__.py": "\nimport torch  # noqa\n"}
    code, statuses, report = _lint_a_copy(tmp_path, injected)
    assert code == 1 and statuses["api, spec, store, client never import torch"] == "BROKEN"
    assert "lrsearch.spec is not allowed to import torch" in report


def test_the_pending_contracts_hold_on_stand_ins_and_can_fail(tmp_path: Path) -> None:
    """service/ and trial/ are being written: their contracts wait, commented, in pyproject.

    On a copy where both exist as empty packages the contracts are well formed and kept; a
    stand-in that imports what its arrow does not allow breaks them.
    """
    blocks = _pending_blocks()
    if not blocks:
        pytest.skip("no pending import contracts in pyproject.toml: all are enabled")
    for needs in blocks:
        present = [m for m in needs if (ROOT / m.replace(".", "/")).exists()]
        assert present != list(needs), (
            f"{', '.join(needs)} now exist(s): enable the block '# >>> needs {' '.join(needs)}'"
            " in pyproject.toml (uncomment it) and fix what lint-imports reports"
        )
    config = "\n".join(blocks.values())
    names = re.findall(r'^name = "(.+)"$', config, re.M)
    stand_ins = {f"{m.replace('.', '/')}/__init__.py": "" for needs in blocks for m in needs}
    _, statuses, report = _lint_a_copy(tmp_path / "clean", stand_ins, config)
    assert {name: statuses.get(name) for name in names} == dict.fromkeys(names, "KEPT"), report

    stand_ins["lrsearch/service/__init__.py"] = "import lrsearch.search  # noqa\n"
    stand_ins["lrsearch/trial/__init__.py"] = "import lrsearch.service  # noqa\n"
    code, statuses, report = _lint_a_copy(tmp_path / "broken", stand_ins, config)
    assert code == 1
    assert statuses["service -> spec, space, store, schedules"] == "BROKEN", report
    assert statuses["service and trial do not import each other"] == "BROKEN", report
    assert "lrsearch.trial is not allowed to import lrsearch.service" in report
