"""The child's end of the local channel, and ``current()``: the Trial of this process.

A command trial's child finds the worker at a Unix socket named by ``LRSEARCH_TRIAL_SOCKET``
and proves itself with ``LRSEARCH_TRIAL_TOKEN``. Each message is one line of JSON; each request
gets one line back (docs/trial-protocol.md):

- ``{"op": "hello", "token": T, "rank": R}`` -> ``{"ok": true, "trial": {...}}``
- ``{"op": "report", "step": S, "metrics": {...}, "rank": R}`` -> ``{"ok": true, "prune": B}``
- ``{"op": "watch", "token": T}`` -> ``{"ok": true}``, then nothing until the worker goes:
  end of file on this connection means the worker died; the child ends itself.

Errors come back as ``{"ok": false, "error": "..."}``. Inside a function trial (the worker's
own process) ``current()`` is the Trial the function was called with.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from lrsearch.errors import LRSearchError
from lrsearch.trial.trial import Trial

SOCKET_ENV = "LRSEARCH_TRIAL_SOCKET"
TOKEN_ENV = "LRSEARCH_TRIAL_TOKEN"
PROTOCOL_VERSION = 1

_current: Trial | None = None
_lock = threading.Lock()


class NotInTrialError(LRSearchError):
    """``lrsearch.trial.current()`` outside a trial."""


class ChannelError(LRSearchError):
    """The worker refused a message, or the channel broke."""


class Connection:
    """One connection to the worker: a request, then its one-line answer."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise ChannelError(f"cannot reach the lrsearch worker at {path!r}: {exc}") from None
        self.reader = self.sock.makefile("rb")

    def ask(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request; its answer (ChannelError if the worker refused it)."""
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
            line = self.reader.readline()
        except OSError as exc:
            raise ChannelError(f"the lrsearch worker went away: {exc}") from None
        if not line:
            raise ChannelError("the lrsearch worker closed the channel")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise ChannelError(str(answer.get("error", "refused")))
        return answer

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class ChannelReporter:
    """Reports over the channel; the worker answers whether to prune."""

    def __init__(self, connection: Connection, rank: int = 0) -> None:
        self.connection, self.rank = connection, rank
        self._lock = threading.Lock()

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        message = {"op": "report", "step": step, "metrics": dict(metrics), "rank": self.rank}
        with self._lock:
            return bool(self.connection.ask(message).get("prune", False))


def current() -> Trial:
    """The Trial of this process: the one a function trial was called with, or, in a command
    trial, the worker's trial over the local channel (connected on first call).

    Raises NotInTrialError outside a trial.
    """
    global _current
    with _lock:
        if _current is None:
            _current = _connect()
        return _current


@contextmanager
def activated(trial: Trial) -> Iterator[Trial]:
    """Make ``trial`` what ``current()`` returns while the block runs (function trials)."""
    global _current
    with _lock:
        before, _current = _current, trial
    try:
        yield trial
    finally:
        with _lock:
            _current = before


def _connect() -> Trial:
    path, token = os.environ.get(SOCKET_ENV), os.environ.get(TOKEN_ENV, "")
    if not path:
        raise NotInTrialError(
            f"lrsearch.trial.current(): not inside a trial ({SOCKET_ENV} is not set); run this "
            "code through `lrsearch search` or `lrsearch run`, or call it with a Trial"
        )
    rank, world_size = _rank()
    connection = Connection(path)
    answer = connection.ask({"op": "hello", "token": token, "rank": rank, "v": PROTOCOL_VERSION})
    _watch_worker(path, token)
    return Trial.from_description(
        answer["trial"], ChannelReporter(connection, rank), rank=rank, world_size=world_size
    )


def _rank() -> tuple[int, int]:
    """This process's rank and the world size, as torchrun (and most launchers) set them."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


def _watch_worker(path: str, token: str) -> None:
    """End this process when the worker dies (its end of the watch connection closes), so a
    killed worker leaves no training process behind, even under a launcher like torchrun."""
    watch = Connection(path)
    watch.ask({"op": "watch", "token": token})

    def wait() -> None:
        with suppress(OSError):
            watch.sock.recv(1)
        os._exit(1)  # the worker is gone: nobody will read this trial's results

    threading.Thread(target=wait, name="lrsearch-watch", daemon=True).start()
