"""What routes depend on: the storage (injected into the app) and the bearer-token checks."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.config import Settings


@dataclass
class Backend:
    """The service's storage: an engine for writes, one for reads, and Optuna's storage.

    Optuna's RDBStorage is made on first use: making it touches the database (it checks and
    may create Optuna's tables), which must not happen when the app is only being built.
    """

    url: str
    writer: Engine
    reader: Engine
    sqlite_timeout_s: float = store.engine.SQLITE_TIMEOUT_S
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

    def optuna_storage(self) -> Any:
        with self._lock:
            if self._optuna is None:
                store.require_current(self.reader)
                self._optuna = store.make_optuna_storage(self.url, self.sqlite_timeout_s)
            return self._optuna

    def close(self) -> None:
        self.writer.dispose()
        self.reader.dispose()
        if self._optuna is not None:
            self._optuna.engine.dispose()


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


BackendDep = Annotated[Backend, Depends(get_backend)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="LRSEARCH_API_TOKEN of the server")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _check_token(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), settings.api_token.strip().encode()):
        raise HTTPException(401, "a valid `Authorization: Bearer <token>` header is required")


def require_writer(settings: SettingsDep, credentials: Credentials) -> None:
    """Writes need the token; without a usable token they are refused (unless in dev mode)."""
    problem = settings.token_problem()
    if problem is not None:
        if settings.dev and not settings.api_token.strip():
            return  # dev mode without a token: open, as `lrsearch serve --dev` says at start
        if not settings.dev:
            raise HTTPException(
                403,
                f"writes are disabled: {problem}; set a real token, or run `lrsearch serve --dev`",
            )
    _check_token(settings, credentials)


def require_reader(request: Request, settings: SettingsDep) -> None:
    """Reads are open unless the server protects them with the same token.

    The header is read by hand, not through ``HTTPBearer``, so the OpenAPI schema does not
    declare reads as needing a token: by default they do not.
    """
    if settings.protect_reads:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=given)
        require_writer(settings, credentials if given else None)


Writer = Depends(require_writer)
Reader = Depends(require_reader)
