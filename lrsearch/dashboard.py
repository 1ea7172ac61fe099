"""optuna-dashboard on lrsearch's storage, stoppable by a signal at any moment.

optuna-dashboard's own ``run_server`` lets Ctrl-C raise inside a request, where wsgiref's handler
catches it and serves on. Here the signal handlers ask the server to shut down instead (from
another thread, as ``shutdown`` must be), requests run in daemon threads, and the port is bound
before anything is printed, so a port in use is one clear error.

:func:`dashboard_app` also mends one of optuna-dashboard's answers: its parameter-importance
API divides by the number of parameters of the study's trials, so while only lrsearch's
baselines (which carry no parameters) exist it fails with a 500 on every poll. That case is
answered with empty importances, as optuna-dashboard does before two trials are complete.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from lrsearch.errors import InvalidInputError

_IMPORTANCES = re.compile(r"/api/studies/(\d+)/param_importances")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds the process after shutdown


def dashboard_app(storage: Any, artifact_dir: Path | None = None) -> WSGIApplication:
    """optuna-dashboard's WSGI app for ``storage``, with parameter-less studies mended.

    ``artifact_dir``: the FileSystemArtifactStore the agents upload each trial's LR curve to
    (see lrsearch.search.artifacts); the trial pages show those images.
    """
    import optuna_dashboard

    store = None
    if artifact_dir is not None and artifact_dir.is_dir():
        from optuna.artifacts import FileSystemArtifactStore

        store = FileSystemArtifactStore(artifact_dir)
    app: WSGIApplication = optuna_dashboard.wsgi(storage, artifact_store=store)

    def mended(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        match = _IMPORTANCES.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return app(environ, start_response)
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            answer.extend((status, headers))

        body = b"".join(app(environ, capture))
        status, headers = answer[0], answer[1]
        empty = _empty_importances(storage, int(match.group(1)))
        if status.startswith("500") and empty is not None:
            status, body = "200 OK", json.dumps(empty).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    return mended


def _empty_importances(storage: Any, study_id: int) -> dict[str, Any] | None:
    """Empty importances per objective when no trial of the study has a parameter (only
    baselines so far), else None: the dashboard's own answer stands."""
    try:
        directions = storage.get_study_directions(study_id)
        trials = storage.get_all_trials(study_id, deepcopy=False)
    except KeyError:
        return None
    if any(trial.params for trial in trials):
        return None
    return {"param_importances": [[] for _ in directions]}


def serve_dashboard(
    storage: Any,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
    artifact_dir: Path | None = None,
) -> None:
    """Serve optuna-dashboard for ``storage`` (and the trials' artifacts in ``artifact_dir``)
    until SIGINT, SIGTERM or SIGHUP; then return."""
    app = dashboard_app(storage, artifact_dir)
    try:
        server = make_server(host, port, app, server_class=_ThreadingServer)
    except OSError as exc:
        raise InvalidInputError(
            "--port", f"cannot listen on {host}:{port}: {exc.strerror}"
        ) from None

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        if on_ready is not None:
            on_ready(f"http://{host}:{port}/dashboard/")
        server.serve_forever()
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
