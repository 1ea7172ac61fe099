"""Schema versions: Alembic for lrsearch's tables (own version table), Optuna's for its own.

``upgrade(url)`` brings both to head (``lrsearch db upgrade``). ``ensure_current(engine)`` is
what workers, the search job and the service call before they start: a database with no tables
yet is created at head; an outdated one is refused with the command that fixes it. Readers call
``require_current(engine)``, which creates nothing.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from lrsearch.errors import StoreError, StoreUnavailable

VERSION_TABLE = "lrsearch_alembic_version"


@cache
def migrations_dir() -> Path:
    """The folder of lrsearch's Alembic scripts (``env.py``, ``versions/``).

    In a source checkout it is ``migrations/`` beside the ``lrsearch/`` folder that is running
    (found from this file), whether or not that checkout is the one installed: PYTHONPATH, or
    one worktree of several that share an editable install. Otherwise it is the installed
    package ``lrsearch.migrations``, which the wheel ships.
    """
    checkout = Path(__file__).resolve().parents[2]  # lrsearch/store/migrate.py -> the checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "migrations" / "env.py").is_file():
        return checkout / "migrations"
    try:
        shipped = Path(str(importlib.resources.files("lrsearch.migrations")))
    except ModuleNotFoundError:
        raise StoreError("this lrsearch is installed without its migrations") from None
    return shipped


def _config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def upgrade_lrsearch(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def downgrade_lrsearch(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.downgrade(_config(conn), revision)


def upgrade(url: str) -> tuple[str | None, str]:
    """Bring Optuna's schema and lrsearch's to head; returns (lrsearch's old, new) revision."""
    from lrsearch.store.engine import make_engine, make_optuna_storage

    storage = make_optuna_storage(url)  # creates Optuna's tables on an empty database
    if storage.get_current_version() != storage.get_head_version():
        storage.upgrade()
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        upgrade_lrsearch(engine)
        return before, head_revision()
    finally:
        engine.dispose()


def require_current(engine: Engine) -> None:
    """For readers: the schema must exist and be current; nothing is created, not even a file.

    A missing database or schema is a StoreError (the storage is not ready), not bad input.
    """
    url = engine.url
    database = url.database or ""
    on_disk = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if on_disk and not Path(database).exists():
        raise StoreError(f"no database file at {database}")
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(f"cannot reach the database: {exc.orig}") from None
    if current is None:
        raise StoreError(
            f"{url.render_as_string()} has no lrsearch tables: "
            "run `lrsearch search` or `lrsearch db upgrade` first"
        )
    _refuse_outdated(engine, current)


def ensure_current(engine: Engine) -> None:
    """Create lrsearch's tables on a fresh database; refuse an outdated or unknown schema."""
    try:
        current = current_revision(engine)
        if current is None and not sa.inspect(engine).has_table("lr_searches"):
            upgrade_lrsearch(engine)
            return
    except sa.exc.OperationalError as exc:
        if "unable to open" in str(exc.orig):  # a SQLite path that waiting will not fix
            raise StoreError(f"cannot reach the database: {exc.orig}") from None
        raise StoreUnavailable(f"cannot reach the database: {exc.orig}") from None
    _refuse_outdated(engine, current)


def _refuse_outdated(engine: Engine, current: str | None) -> None:
    head = head_revision()
    if current != head:
        raise StoreError(
            f"the database schema is at revision {current}, this lrsearch needs {head}: "
            f"run `lrsearch db upgrade --storage {engine.url.render_as_string()}`"
        )
