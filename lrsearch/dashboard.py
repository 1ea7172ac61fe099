"""optuna-dashboard on lrsearch's storage, stoppable by a signal at any moment.

optuna-dashboard's own ``run_server`` lets Ctrl-C raise inside a request, where wsgiref's handler
catches it and serves on. Here the signal handlers ask the server to shut down instead (from
another thread, as ``shutdown`` must be), requests run in daemon threads, and the port is bound
before anything is printed, so a port in use is one clear error.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from lrsearch.errors import InvalidInputError


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds the process after shutdown


def serve_dashboard(
    storage: Any, host: str, port: int, *, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve optuna-dashboard for ``storage`` until SIGINT or SIGTERM; then return."""
    import optuna_dashboard

    app = optuna_dashboard.wsgi(storage)
    try:
        server = make_server(host, port, app, server_class=_ThreadingServer)
    except OSError as exc:
        raise InvalidInputError(
            "--port", f"cannot listen on {host}:{port}: {exc.strerror}"
        ) from None

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if on_ready is not None:
            on_ready(f"http://{host}:{port}/dashboard/")
        server.serve_forever()
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
