"""The worker's end of the local channel: a Unix socket that a command trial's child reaches.

The socket lives in a fresh private folder (mode 0700) and every connection must first show
the trial's secret token (``hello`` or ``watch``), so no other process of another user, and no
other trial, can report for this one. Messages are JSON lines; docs/trial-protocol.md is the
reference. The server is polled by the runner's loop (``serve(timeout)``), in the worker's main
thread, so a report reaches the ledger exactly as an in-process report does.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import secrets
import selectors
import shutil
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lrsearch.errors import InvalidInputError
from lrsearch.search.runners.backend import TrialBackend

MAX_LINE = 1 << 20  # a report is a few hundred bytes; a megabyte is a broken client
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "infinity": math.inf, "-inf": -math.inf}


@dataclass
class _Peer:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    rank: int | None = None  # set by hello
    watching: bool = False


class ChannelServer:
    """Serves one trial: ``hello`` -> its description, ``report`` -> ``{prune}``, ``watch``.

    Use as a context manager; ``path`` and ``token`` go into the child's environment.
    """

    def __init__(self, backend: TrialBackend, description: Mapping[str, Any]) -> None:
        self.backend, self.description = backend, dict(description)
        self.folder = tempfile.mkdtemp(prefix="lrsearch-")  # 0700: this user's only
        self.path = os.path.join(self.folder, "trial.sock")
        self.token = secrets.token_hex(16)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.peers: dict[int, _Peer] = {}
        self.errors: list[str] = []

    def __enter__(self) -> ChannelServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection (a child's watcher then ends it) and remove the socket."""
        for peer in list(self.peers.values()):
            self._drop(peer)
        self.selector.close()
        self.listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def serve(self, timeout: float) -> None:
        """Answer what arrives within ``timeout`` seconds."""
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                self._accept()
            else:
                self._read(key.data)

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(True)
        peer = _Peer(sock)
        self.peers[sock.fileno()] = peer
        self.selector.register(sock, selectors.EVENT_READ, peer)

    def _read(self, peer: _Peer) -> None:
        try:
            chunk = peer.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(peer)
            return
        peer.buffer += chunk
        while b"\n" in peer.buffer:
            line, _, rest = bytes(peer.buffer).partition(b"\n")
            peer.buffer = bytearray(rest)
            if not self._answer(peer, line):
                self._drop(peer)
                return
        if len(peer.buffer) > MAX_LINE:
            self._send(peer, {"ok": False, "error": "message too long"})
            self._drop(peer)

    def _answer(self, peer: _Peer, line: bytes) -> bool:
        """Answer one request; False closes the connection."""
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("a message is a JSON object")
            answer = self._handle(peer, message)
        except (ValueError, InvalidInputError) as exc:
            self.errors.append(str(exc))
            self._send(peer, {"ok": False, "error": str(exc)})
            return peer.rank is not None  # a bad report is answered; a bad hello is not kept
        return self._send(peer, answer)

    def _handle(self, peer: _Peer, message: Mapping[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op in ("hello", "watch"):
            token = message.get("token")
            if not isinstance(token, str) or not hmac.compare_digest(token, self.token):
                raise ValueError("wrong token")
            if op == "watch":
                peer.watching = True
                return {"ok": True}
            rank = message.get("rank", 0)
            peer.rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else 0
            return {"ok": True, "trial": self.description}
        if peer.rank is None:
            raise ValueError("say hello (with the trial's token) first")
        if op == "report":
            if peer.rank != 0:  # only rank 0's reports count; the others learn the decision
                return {"ok": True, "prune": self.backend.stopped}
            step, metrics = _report_fields(message)
            prune = self.backend.report(step, metrics)
            return {"ok": True, "prune": prune, "diverged": self.backend.diverged is not None}
        raise ValueError(f"unknown op {op!r}: ops are hello, report, watch")

    def _send(self, peer: _Peer, answer: Mapping[str, Any]) -> bool:
        try:
            peer.sock.sendall(json.dumps(answer).encode() + b"\n")
        except OSError:
            return False
        return True

    def _drop(self, peer: _Peer) -> None:
        self.peers.pop(peer.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(peer.sock)
        peer.sock.close()


def _report_fields(message: Mapping[str, Any]) -> tuple[int, dict[str, float]]:
    step, metrics = message.get("step", 0), message.get("metrics")
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidInputError("step", f"must be an integer, got {step!r}")
    if not isinstance(metrics, dict) or not metrics:
        raise InvalidInputError("metrics", "must be an object of names and numbers")
    return step, {str(key): _number(str(key), value) for key, value in metrics.items()}


def _number(key: str, value: Any) -> float:
    """A metric's value: a number, or null / "NaN" / "Infinity" for a non-finite one."""
    if value is None:
        return math.nan
    if isinstance(value, str) and value.strip().lower() in _NON_FINITE:
        return _NON_FINITE[value.strip().lower()]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"metrics.{key}", f"must be a number, got {value!r}")
    return float(value)
