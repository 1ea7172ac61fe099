"""Helpers for tests that start lrsearch as real processes."""

from __future__ import annotations

import signal
import socket


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
