"""What routes depend on: the storage (injected into the app), the settings, the creators'
policy, and the bearer-token checks."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lrsearch.config import Settings
from lrsearch.service import Backend, ReportRenderer, SubmitPolicy


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_policy(settings: Annotated[Settings, Depends(get_settings)]) -> SubmitPolicy:
    """HTTP clients may name what the server's settings allow (modules, data roots)."""
    return SubmitPolicy.http(settings)


def get_renderer(request: Request) -> ReportRenderer:
    """The report renderer the app was built with; without one, reports are not served."""
    render: ReportRenderer | None = request.app.state.render_report
    if render is None:
        raise HTTPException(501, "this server was built without the report renderer")
    return render


BackendDep = Annotated[Backend, Depends(get_backend)]
RendererDep = Annotated[ReportRenderer, Depends(get_renderer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PolicyDep = Annotated[SubmitPolicy, Depends(get_policy)]

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
