"""The JSON error body every failure of the service answers with, in one place.

Used by the exception handlers (app.py) and by the request guard, which answers before a route
(and before FastAPI) sees the request.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

from lrsearch.api.schemas import ErrorPublic, FieldError


def error_response(
    status: int,
    message: str,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``{"message": ..., "errors": [...]}`` with ``status``; a 401 says which scheme."""
    body = ErrorPublic(message=message, errors=errors or [])
    extra = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return JSONResponse(body.model_dump(), status_code=status, headers={**(headers or {}), **extra})
