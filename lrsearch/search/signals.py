"""SIGTERM and SIGINT as a clean stop of a worker, never in the middle of a ledger step."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from lrsearch.errors import WorkerStopped

PR_SET_PDEATHSIG = 1


class GracefulStop:
    """Turns SIGTERM/SIGINT into WorkerStopped, except inside ``critical()`` sections.

    Inside one, the signal only sets ``requested``; the worker checks it where it knows what
    to give back (right after claiming, right after recording).
    """

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0

    def install(self) -> None:
        """Handle SIGTERM and SIGINT in this (main) thread."""
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._depth == 0:
            raise WorkerStopped(f"stopped by signal {signal.Signals(signum).name}")

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A section a signal must not interrupt (it is acted on afterwards)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A preexec_fn: the child gets ``signum`` when its parent dies (Linux's PR_SET_PDEATHSIG;
    elsewhere None: no such guard)."""
    if not sys.platform.startswith("linux"):
        return None

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not after

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec
