"""Database engines: SQLite tuned for several local processes, PostgreSQL pooled and pre-pinged.

SQLite runs in WAL mode (readers never block the writer) with a busy timeout, and every
transaction starts with ``BEGIN IMMEDIATE``: a transaction that reads and then writes takes the
write lock up front, so two processes never deadlock on a lock upgrade, which is what
"database is locked" usually is. The same settings are applied to the engine inside Optuna's
RDBStorage, so lrsearch's tables and Optuna's share one discipline.
"""

from __future__ import annotations

import warnings
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from lrsearch.config import Settings
from lrsearch.errors import StoreError, StoreUnavailable

# Settings' default, for callers that pass no Settings (the value lives in one place: Settings).
SQLITE_TIMEOUT_S: float = Settings.model_fields["sqlite_timeout_s"].default


def normalize_url(url: str) -> str:
    """``postgresql://`` (no driver named) means psycopg 3, the driver lrsearch installs."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"storage URL {url!r} is not usable: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def engine_kwargs(url: str, sqlite_timeout_s: float = SQLITE_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` (also handed to Optuna's RDBStorage)."""
    if is_sqlite(url):
        return {"connect_args": {"timeout": sqlite_timeout_s}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5, "pool_recycle": 1800}


def make_engine(
    url: str, sqlite_timeout_s: float = SQLITE_TIMEOUT_S, *, reader: bool = False
) -> Engine:
    """An engine for ``url`` with lrsearch's settings; a bad URL is a StoreError.

    A ``reader`` engine (the HTTP service's reads) opens plain deferred transactions on SQLite:
    in WAL mode they read a snapshot without taking the write lock, so reads never wait for
    workers. Writers use ``BEGIN IMMEDIATE``.
    """
    url = normalize_url(url)
    try:
        engine = sa.create_engine(url, **engine_kwargs(url, sqlite_timeout_s))
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StoreError(f"storage URL {url!r} is not usable: {exc}") from None
    tune_engine(engine, sqlite_timeout_s, immediate=not reader)
    return engine


def tune_engine(
    engine: Engine, sqlite_timeout_s: float = SQLITE_TIMEOUT_S, *, immediate: bool = True
) -> None:
    """Apply the SQLite discipline to an engine made elsewhere (Optuna's); no-op otherwise."""
    if engine.dialect.name != "sqlite":
        return
    timeout_ms = int(sqlite_timeout_s * 1000)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below open transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "begin", on_begin)
    engine.dispose()  # connections opened before the hooks were added are not reused


def make_optuna_storage(url: str, sqlite_timeout_s: float = SQLITE_TIMEOUT_S) -> Any:
    """Optuna's RDBStorage on ``url``, its engine tuned like lrsearch's own."""
    import optuna

    url = normalize_url(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs(url, sqlite_timeout_s)
            )
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"storage URL {url!r} is not usable: {exc}") from None
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"cannot open the database at {url!r}: {exc.orig}") from None
    tune_engine(storage.engine, sqlite_timeout_s)
    return storage
