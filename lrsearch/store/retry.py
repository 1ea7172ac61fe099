"""Riding out a database that goes away for a while (a PostgreSQL restart, a failover).

Connections are pre-pinged at checkout; an operation that still meets a dead connection, or a
server that is not back yet, is retried with backoff until a deadline (``Settings.db_retry_s``),
so a restart costs retries, not trials. Only errors that may pass are retried: a missing or
outdated schema is not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from lrsearch.errors import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger("lrsearch.store")


def retryable_errors() -> tuple[type[BaseException], ...]:
    """The errors of a database that did not answer (as opposed to one that said no)."""
    import optuna

    return (
        StoreUnavailable,
        sa.exc.OperationalError,
        sa.exc.InterfaceError,
        optuna.exceptions.StorageInternalError,
    )


class RetryPolicy:
    """Call a database operation until it succeeds or ``deadline_s`` passes.

    Every retried operation must be safe to repeat: its first try may have committed with the
    reply lost. Each retry is logged once, as "database unreachable, retrying (attempt n, t s)".
    """

    def __init__(self, deadline_s: float, *, max_delay_s: float = 5.0) -> None:
        self.deadline_s, self.max_delay_s = deadline_s, max_delay_s
        self._retryable = retryable_errors()

    def __call__(self, fn: Callable[[], T], what: str) -> T:
        """``fn()``, retried on database errors; StoreUnavailable once the deadline passes."""
        started = time.monotonic()
        delay, attempt = 0.2, 1
        while True:
            try:
                return fn()
            except self._retryable as exc:
                waited = time.monotonic() - started
                if waited + delay > self.deadline_s:
                    raise StoreUnavailable(
                        f"{what}: the database did not come back in {self.deadline_s:g} s: "
                        f"{_short(exc)}"
                    ) from exc
                log.warning(
                    "database unreachable, retrying (attempt %d, %.1f s): %s: %s",
                    attempt,
                    waited,
                    what,
                    _short(exc),
                )
                time.sleep(delay)
                delay, attempt = min(delay * 2, self.max_delay_s), attempt + 1


def _short(exc: BaseException) -> str:
    text = str(exc.__cause__ or exc)  # Optuna wraps the driver's message in a generic one
    return text.splitlines()[0][:200] if text else type(exc).__name__
