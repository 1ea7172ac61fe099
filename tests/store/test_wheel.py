"""The package as released: ``python -m build`` makes the sdist and the wheel, ``twine check``
passes them, and the wheel ships the Alembic scripts (``lrsearch db upgrade`` from it).

The scripts live in the repository's top-level ``migrations/`` and install as the package
``lrsearch.migrations``. The build runs on a copy of the sources (so it leaves nothing in the
checkout). The wheel is installed twice: into a folder with ``pip install --target`` and run
with only that folder on PYTHONPATH from a directory outside the repository (the checkout's
``lrsearch`` cannot be the one imported); and into a fresh virtual environment with its core
dependencies only (``-c constraints.txt``: torch resolves to the pinned CPU build), where
``lrsearch --version`` and the schedules work and a command that needs an extra says which.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
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
def own_tmp() -> Iterator[Path]:
    """A folder of this module's own, outside pytest's numbered temporary folders: those are
    pruned by whichever pytest run starts next on the machine, and these builds take minutes."""
    with tempfile.TemporaryDirectory(prefix="lrsearch-wheel-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def dist(own_tmp: Path) -> Path:
    """lrsearch's sdist and wheel, built offline with ``python -m build`` and this environment's
    setuptools (the wheel is built from the sdist, as a user's pip would build it)."""
    base = own_tmp / "wheel"
    sources, out = base / "src", base / "dist"
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, sources / name, ignore=junk)
        else:
            sources.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, sources / name)
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(sources)])
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (built,) = dist.glob("lrsearch-*.whl")
    return built


def test_twine_checks_the_sdist_and_the_wheel(dist: Path) -> None:
    (sdist,) = dist.glob("lrsearch-*.tar.gz")
    done = _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), *dist.glob("*.whl")]
    )
    assert done.stdout.count("PASSED") == 2, done.stdout


@pytest.fixture(scope="module")
def installed(wheel: Path, own_tmp: Path) -> Path:
    """The wheel installed into a folder of its own (its dependencies are this venv's)."""
    target = own_tmp / "site"
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


CORE_ONLY_ABSENT = ("fastapi", "uvicorn", "optuna-dashboard", "psycopg", "scikit-learn", "httpx")
CORE_SCRIPT = """
import lrsearch
import torch
spec = lrsearch.ScheduleSpec.create("cosine", lr=0.1)
optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
scheduler = lrsearch.SpecLR(optimizer, spec, total_steps=10)
print(lrsearch.__version__, torch.__version__, optimizer.param_groups[0]["lr"])
"""


@pytest.fixture(scope="module")
def core_venv(wheel: Path, own_tmp: Path) -> Path:
    """A fresh virtual environment with the wheel and its core dependencies only."""
    venv = own_tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    # Outside the checkout, without PYTHONPATH: `python -m` puts the working directory first on
    # sys.path, and the checkout's lrsearch.egg-info would read as lrsearch installed already.
    constraints = str(ROOT / "constraints.txt")
    install = [*pip, "--disable-pip-version-check", "-c", constraints, str(wheel)]
    _run(install, cwd=own_tmp, env=outside_env())
    assert (venv / "bin" / "lrsearch").exists(), "the wheel's console script"
    return venv


def outside_env() -> dict[str, str]:
    """This environment less PYTHONPATH: a fresh venv's processes see only their own packages."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LRSEARCH_STORAGE_URL")}


def test_the_wheel_installs_with_the_core_only(core_venv: Path, tmp_path: Path) -> None:
    python, lrsearch = str(core_venv / "bin" / "python"), str(core_venv / "bin" / "lrsearch")
    listed = _run([python, "-m", "pip", "list", "--format", "json"], tmp_path, outside_env())
    names = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    assert names["torch"] == "2.13.0+cpu"  # the pin of constraints.txt: the CPU build
    assert not [n for n in names if n.startswith("nvidia")], "CUDA libraries were installed"
    assert not [n for n in CORE_ONLY_ABSENT if n in names], sorted(names)

    version = _run([lrsearch, "--version"], tmp_path, outside_env())
    assert version.stdout == "lrsearch 0.1.0\n"
    used = _run([python, "-c", CORE_SCRIPT], tmp_path, outside_env())
    assert used.stdout.split() == ["0.1.0", "2.13.0+cpu", "0.1"]
    families = _run([lrsearch, "schedules", "list", "--json"], tmp_path, outside_env())
    assert len(json.loads(families.stdout)) == 16


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["serve"], "server"),
        (["dashboard"], "dashboard"),
        (["schedules", "plot", "cosine"], "plots"),
        (["studies", "--storage", "postgresql+psycopg://u@127.0.0.1:1/x"], "postgres"),
    ],
)
def test_a_command_without_its_extra_is_one_line(
    core_venv: Path, tmp_path: Path, command: list[str], extra: str
) -> None:
    done = subprocess.run(
        [str(core_venv / "bin" / "lrsearch"), *command],
        cwd=tmp_path,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    name = " ".join(w for w in command[:2] if not w.startswith("-"))
    needs = f"lrsearch {name}" + (" on PostgreSQL" if extra == "postgres" else "")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"{needs} needs the {extra} extra: pip install 'lrsearch[{extra}]'\n"
