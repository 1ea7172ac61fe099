"""The storage a service call works on: engines for writes and reads, and Optuna's storage.

Built once per process from Settings (a CLI command, the HTTP app) and passed to every
service function, so tests can hand in any database (an in-memory SQLite one included).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from optuna.storages import BaseStorage
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.store.engine import SQLITE_TIMEOUT_S


@dataclass
class Backend:
    """An engine for writes, one for reads, and Optuna's storage (made on first use).

    Making Optuna's RDBStorage touches the database (it checks and may create Optuna's
    tables), which must not happen when an app is only being built.

    >>> with Backend.from_settings(Settings()) as backend:  # doctest: +SKIP
    ...     summary = get_study(backend, "digits-demo")
    """

    url: str
    writer: Engine
    reader: Engine
    sqlite_timeout_s: float = SQLITE_TIMEOUT_S
    _optuna: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> Backend:
        url, timeout = settings.storage_url, settings.sqlite_timeout_s
        return cls(
            url=url,
            writer=store.make_engine(url, timeout),
            reader=store.make_engine(url, timeout, reader=True),
            sqlite_timeout_s=timeout,
        )

    @classmethod
    def current(cls, settings: Settings) -> Backend:
        """A backend whose database exists with a current schema (a CLI command that reads):
        else a StoreError saying which, e.g. no database file at the URL."""
        backend = cls.from_settings(settings)
        try:
            store.require_current(backend.writer)
        except BaseException:
            backend.close()
            raise
        return backend

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def optuna_storage(self) -> BaseStorage:
        """Optuna's storage on the same database; lrsearch's schema must be current."""
        with self._lock:
            if self._optuna is None:
                store.require_current(self.reader)
                self._optuna = store.make_optuna_storage(self.url, self.sqlite_timeout_s)
            storage: BaseStorage = self._optuna
            return storage

    def close(self) -> None:
        self.writer.dispose()
        self.reader.dispose()
        if self._optuna is not None:
            self._optuna.engine.dispose()
