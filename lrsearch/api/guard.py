"""The request guard: what is refused before a route, and FastAPI's body parsing, runs.

- A request to a route that needs the token (every write; reads when they are protected)
  without the right one is refused before a byte of its body is read.
- A body above ``Settings.max_body_bytes`` is refused with 413: at once when its
  Content-Length says so, else as soon as the bytes received pass the limit (a chunked body
  has no Content-Length), so a client cannot make the server hold more than the limit.

A body within the limit is then replayed to the app, which parses it as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrsearch.api.deps import bearer_token, reader_refusal, writer_refusal
from lrsearch.api.errors import error_response
from lrsearch.config import Settings

Refusal = Callable[[Settings, str], HTTPException | None]
Rule = tuple[str, "re.Pattern[str]", Refusal]


class RequestGuard:
    """ASGI middleware: token first, then the body's size, then the app."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._rules: list[Rule] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._token_refusal(scope, bearer_token(headers.get("authorization", "")))
        if refusal is not None:
            await _refuse(refusal.status_code, str(refusal.detail), scope, receive, send)
            return
        limit = self.settings.max_body_bytes
        too_large = f"the request body is larger than {limit} bytes (LRSEARCH_MAX_BODY_BYTES)"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(413, too_large, scope, receive, send)
            return
        body = await _read_at_most(receive, limit)
        if body is None:
            await _refuse(413, too_large, scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _token_refusal(self, scope: Scope, token: str) -> HTTPException | None:
        """The refusal of the operation ``scope`` asks for, if it needs a token."""
        if self._rules is None:
            self._rules = access_rules(scope["app"].openapi())
        for method, path, check in self._rules:
            if method == scope["method"] and path.fullmatch(scope["path"]):
                return check(self.settings, token)
        return None


def access_rules(openapi: dict[str, Any]) -> list[Rule]:
    """Which operations need the token, read from the app's own OpenAPI schema.

    An operation that declares the bearer scheme is a write (``require_writer``); the other
    ``/v1/`` operations are reads (``require_reader``: open unless reads are protected);
    ``/health``, ``/ready`` and the docs need nothing.
    """
    rules: list[Rule] = []
    for path, operations in openapi["paths"].items():
        literal = (re.escape(part) for part in re.split(r"\{[^}]+\}", path))
        pattern = re.compile("[^/]+".join(literal))
        for method, operation in operations.items():
            if operation.get("security"):
                rules.append((method.upper(), pattern, writer_refusal))
            elif path.startswith("/v1/"):
                rules.append((method.upper(), pattern, reader_refusal))
    return rules


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: nothing to answer
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body read already, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
    """The JSON error, closing the connection: the rest of the body is never read."""
    response = error_response(status, message, headers={"Connection": "close"})
    await response(scope, receive, send)
