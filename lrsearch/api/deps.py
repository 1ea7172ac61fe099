"""What routes depend on: the storage (injected into the app), the settings, the creators'
policy, and the bearer-token checks."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lrsearch.api.curves import RenderSlots
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


def get_slots(request: Request) -> RenderSlots:
    """The app's render slots: few large curves and reports at once (see api/curves.py)."""
    slots: RenderSlots = request.app.state.render_slots
    return slots


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
SlotsDep = Annotated[RenderSlots, Depends(get_slots)]

_bearer = HTTPBearer(auto_error=False, description="LRSEARCH_API_TOKEN of the server")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def writer_refusal(settings: Settings, token: str) -> HTTPException | None:
    """Why a write with bearer ``token`` ("" for none) is refused, or None if it may go on.

    Without a usable server token writes are refused (403), unless in dev mode with no token.
    """
    problem = settings.token_problem()
    if problem is not None:
        if settings.dev and not settings.api_token.strip():
            return None  # dev mode without a token: open, as `lrsearch serve --dev` says
        if not settings.dev:
            return HTTPException(
                403,
                f"writes are disabled: {problem}; set a real token, or run `lrsearch serve --dev`",
            )
    if not secrets.compare_digest(token.encode(), settings.api_token.strip().encode()):
        return HTTPException(401, "a valid `Authorization: Bearer <token>` header is required")
    return None


def reader_refusal(settings: Settings, token: str) -> HTTPException | None:
    """Why a read with bearer ``token`` is refused: reads are open unless protected."""
    return writer_refusal(settings, token) if settings.protect_reads else None


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value ("" for anything else)."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def require_writer(settings: SettingsDep, credentials: Credentials) -> None:
    """Writes need the token (see :func:`writer_refusal`)."""
    refusal = writer_refusal(settings, credentials.credentials if credentials else "")
    if refusal is not None:
        raise refusal


def require_reader(request: Request, settings: SettingsDep) -> None:
    """Reads are open unless the server protects them with the same token.

    The header is read by hand, not through ``HTTPBearer``, so the OpenAPI schema does not
    declare reads as needing a token: by default they do not.
    """
    refusal = reader_refusal(settings, bearer_token(request.headers.get("authorization", "")))
    if refusal is not None:
        raise refusal


Writer = Depends(require_writer)
Reader = Depends(require_reader)
