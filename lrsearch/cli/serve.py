"""``lrsearch serve`` (the HTTP API, optionally with local agents) and ``lrsearch dashboard``.

The server process never loads torch: the app imports only the service, and the agents run
as ``lrsearch worker`` subprocesses started by lrsearch.search.local (torch-free).
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from lrsearch.cli.app import (
    DeviceOption,
    StorageOption,
    ThreadsOption,
    app,
    check_device,
    command_settings,
    hang_up_as_terminate,
)
from lrsearch.cli.extras import require
from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError

HostOption = Annotated[str, typer.Option(help="Interface to listen on.")]


@app.command()
def serve(
    storage: StorageOption = None,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Also run this many local worker agents (--wait).", min=0)
    ] = 0,
    dev: Annotated[
        bool, typer.Option("--dev", help="Development mode: without a token, writes are open.")
    ] = False,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    log_dir: Annotated[Path, typer.Option(help="Where the agents' logs go.")] = Path(
        "lrsearch-results/serve"
    ),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs); with --workers, run agents beside it.

    Writes need `Authorization: Bearer $LRSEARCH_API_TOKEN`. The agents pick up studies
    submitted over HTTP; stop the service with Ctrl-C, SIGTERM or SIGHUP and they release their
    trials.
    """
    require("server", "serve")
    import uvicorn

    from lrsearch.api import create_app
    from lrsearch.report import render  # matplotlib loads with the first report only
    from lrsearch.search.devices import probe_device
    from lrsearch.search.local import start_workers, stop_workers, worker_command

    check_device(device, probe_device if workers else None)
    check_port(host, port)
    settings = command_settings(storage)
    settings = settings.model_copy(update={"dev": True}) if dev else settings
    _prepare_database(settings)
    problem = settings.token_problem()
    if problem and not settings.dev:
        print(f"lrsearch serve: {problem}: write endpoints are disabled", file=sys.stderr)
    elif problem:
        print("lrsearch serve: dev mode: write endpoints need no token", file=sys.stderr)
    commands = [
        worker_command(settings.storage_url, None, i, workers, device, threads, wait=True)
        for i in range(workers)
    ]
    procs = start_workers(commands, log_dir) if commands else []
    if procs:
        print(f"lrsearch serve: {workers} agents, logs in {log_dir}/", file=sys.stderr)
    # uvicorn handles SIGINT and SIGTERM while it serves, then raises the signal again: both
    # must then end here as KeyboardInterrupt, so that the agents are stopped, not orphaned.
    # SIGHUP (a closed terminal), which uvicorn leaves to its default (death), is a SIGTERM.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    hang_up_as_terminate()
    try:
        app = create_app(settings, render_report=render)
        uvicorn.run(app, host=host, port=port, log_level="info")
    except KeyboardInterrupt:
        pass
    finally:
        stop_workers(procs)


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once, before anything starts: a port in use or an address this host
    does not have is one line naming both (exit 2), not a server's traceback.

    With SO_REUSEADDR, as uvicorn binds: a port whose last connections linger in TIME_WAIT is
    free; one with a listener is not.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InvalidInputError("--host", f"cannot listen on {where}: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:  # as `lrsearch dashboard` words it
            reason = exc.strerror or str(exc)
            raise InvalidInputError("--port", f"cannot listen on {where}: {reason}") from None


def _prepare_database(settings: Settings) -> None:
    """Optuna's tables, and lrsearch's: created on a fresh database, else must be current."""
    from lrsearch.store import ensure_current, make_engine, make_optuna_storage

    engine = make_engine(settings.storage_url)
    try:
        make_optuna_storage(settings.storage_url).engine.dispose()
        ensure_current(engine)
    finally:
        engine.dispose()


@app.command()
def dashboard(
    storage: StorageOption = None,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
) -> None:
    """Start optuna-dashboard on the same storage as the searches (Ctrl-C stops it)."""
    require("dashboard", "dashboard")
    from lrsearch.dashboard import serve_dashboard
    from lrsearch.service import Backend

    settings = command_settings(storage)
    with Backend.current(settings) as backend:  # a wrong URL is one line, not an empty page
        storage_ = backend.optuna_storage()
        url = settings.storage_url
        serve_dashboard(
            storage_,
            host,
            port,
            on_ready=lambda address: print(f"optuna-dashboard: {address} on {url}", flush=True),
            artifact_dir=settings.artifact_path,
        )
