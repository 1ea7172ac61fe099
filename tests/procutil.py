"""Helpers for tests that start lrsearch as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_in_a_terminal() -> None:
    """``preexec_fn``: Ctrl-C (SIGINT) stops the child, as it would in a terminal.

    A job started in the background of a non-interactive shell (as CI may be) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_lrsearch(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    stderr: int = subprocess.STDOUT,
) -> subprocess.Popen[str]:
    """``python -m lrsearch ARGS`` as a user starts it in a terminal: unbuffered, text pipes
    (stderr into stdout unless ``stderr=subprocess.PIPE``), Ctrl-C live; ``env`` added."""
    return subprocess.Popen(
        [sys.executable, "-m", "lrsearch", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        preexec_fn=as_in_a_terminal,
    )


@contextmanager
def served_in_thread(app: Any) -> Iterator[str]:
    """uvicorn serving the ASGI ``app`` on loopback in a thread of this process; its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
