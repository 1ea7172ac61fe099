"""The HTTP service: ``create_app(settings)`` builds it with its storage injected.

Nothing happens at import time: no engine, no settings. Routes are thin: they call
lrsearch.service, which reads lrsearch's tables for studies and best configs (a fixed number of
indexed queries, whatever the number of trials) and Optuna's trials through Optuna's storage
API. Importing this package never imports torch.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from lrsearch.api.curves import RenderSlots
from lrsearch.api.docs import add_offline_docs
from lrsearch.api.errors import error_response
from lrsearch.api.guard import RequestGuard
from lrsearch.api.routes import schedules, service, studies
from lrsearch.api.schemas import ErrorPublic, FieldError
from lrsearch.config import Settings
from lrsearch.errors import (
    ConflictError,
    InvalidInputError,
    LRSearchError,
    NotFoundError,
    StoreError,
)
from lrsearch.service import Backend, ReportRenderer
from lrsearch.spec import input_error

log = logging.getLogger("lrsearch.api")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic, "description": text}
    for code, text in (
        (400, "the request body could not be parsed"),
        (401, "missing or wrong bearer token"),
        (403, "writes are disabled: the server has no usable token"),
        (404, "no such study or trial"),
        (409, "the name is taken, or the study is still active"),
        (413, "the request body is larger than the server's LRSEARCH_MAX_BODY_BYTES"),
        (422, "invalid input: the message and `errors` name the fields"),
        (429, "every render slot is busy with a large curve or report: retry after Retry-After"),
        (503, "the database is unreachable or its schema is outdated"),
    )
}


def create_app(
    settings: Settings,
    backend: Backend | None = None,
    *,
    render_report: ReportRenderer | None = None,
) -> FastAPI:
    """The service over ``settings.storage_url`` (or over an injected ``backend``).

    ``settings`` is built once by the caller (``lrsearch serve``, a test), never here; so is
    ``render_report`` (``lrsearch.report.render``): without it the report endpoint answers 501.
    """
    backend = backend or Backend.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            backend.close()

    app = FastAPI(
        title="lrsearch",
        summary="Which learning-rate schedule, which learning rate: search results over HTTP.",
        version="1",
        lifespan=lifespan,
        responses=ERRORS,
        docs_url=None,  # served offline by add_offline_docs, not from a CDN
        redoc_url=None,
    )
    app.state.backend = backend
    app.state.settings = settings
    app.state.render_report = render_report
    app.state.render_slots = RenderSlots(settings.render_slots)
    for router in (service.router, schedules.router, studies.router):
        app.include_router(router)
    add_offline_docs(app)
    _add_error_handlers(app)
    app.add_middleware(RequestGuard, settings=settings)
    return app


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", set()) or set()
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for item in exc.errors():
            loc = tuple(item.get("loc", ()))
            if loc and loc[0] in ("body", "query", "path", "header"):
                loc = loc[1:]
            problem = input_error({**item, "loc": loc})
            fields.append(FieldError(field=problem.field or "body", message=problem.reason))
        message = "; ".join(f"{f.field}: {f.message}" for f in fields[:3]) or "invalid request"
        return error_response(422, message, fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(LRSearchError)
    async def domain_error(_request: Request, exc: LRSearchError) -> JSONResponse:
        if isinstance(exc, InvalidInputError):
            field = FieldError(field=exc.field or "body", message=exc.reason)
            return error_response(422, str(exc), [field])
        if isinstance(exc, NotFoundError):
            return error_response(404, str(exc))
        if isinstance(exc, ConflictError):
            return error_response(409, str(exc))
        if isinstance(exc, StoreError):
            return error_response(503, str(exc))
        return error_response(400, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, f"internal error ({type(exc).__name__}); the server log has details"
        )
