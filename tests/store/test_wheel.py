"""The wheel ships the Alembic scripts: ``lrsearch db upgrade`` from an installed wheel.

The scripts live in the repository's top-level ``migrations/`` and install as the package
``lrsearch.migrations``. The wheel is built from a copy of the sources (so the build leaves
nothing in the checkout), installed into a folder with ``pip install --target``, and run with
only that folder on PYTHONPATH from a directory outside the repository: the checkout's
``lrsearch`` cannot be the one imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from lrsearch.store.migrate import VERSION_TABLE, head_revision

ROOT = Path(__file__).resolve().parents[2]
# What setuptools builds the wheel from (the Dockerfile copies the same).
SOURCES = ("pyproject.toml", "setup.py", "README.md", "lrsearch", "migrations")
LR_TABLES = {"lr_searches", "lr_best", "lr_trials", "lr_epoch_metrics"}

pytestmark = pytest.mark.slow


def _run(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lrsearch's wheel, built offline with this environment's setuptools."""
    base = tmp_path_factory.mktemp("wheel")
    sources, out = base / "src", base / "dist"
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, sources / name, ignore=junk)
        else:
            sources.mkdir(exist_ok=True)
            shutil.copy2(path, sources / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    _run([*pip_wheel, "--quiet", "-w", str(out), str(sources)])
    (built,) = out.glob("lrsearch-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own (its dependencies are this venv's)."""
    target = tmp_path_factory.mktemp("site")
    pip_install = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
    _run([*pip_install, "--disable-pip-version-check", "--target", str(target), str(wheel)])
    return target


def test_the_wheel_ships_the_migrations_as_lrsearch_migrations(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for name in ("__init__.py", "env.py", "script.py.mako"):
        assert f"lrsearch/migrations/{name}" in names
    versions = sorted(n for n in names if n.startswith("lrsearch/migrations/versions/"))
    expected = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert expected and [n.rsplit("/", 1)[1] for n in versions] == expected
    assert not [n for n in names if n.startswith("migrations/")], "a top-level migrations package"
    assert not [n for n in names if n.startswith("lrsearch/store/migrations/")]


def test_db_upgrade_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert not outside.resolve().is_relative_to(ROOT)
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("LRSEARCH_STORAGE_URL", None)
    where = _run(
        [
            sys.executable,
            "-c",
            "import lrsearch.store.migrate as m; print(m.__file__); print(m.migrations_dir())",
        ],
        cwd=outside,
        env=env,
    )
    module, scripts = where.stdout.split()
    assert Path(module).is_relative_to(installed), f"not the wheel's lrsearch: {module}"
    assert Path(scripts) == installed / "lrsearch" / "migrations"

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = _run(
        [sys.executable, "-m", "lrsearch", "db", "upgrade", "--storage", url],
        cwd=outside,
        env=env,
    )
    assert f"lrsearch schema: empty -> {head_revision()}" in done.stdout

    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            version = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    finally:
        engine.dispose()
    assert tables >= LR_TABLES | {VERSION_TABLE, "studies", "trials", "alembic_version"}
    assert version == [(head_revision(),)]
