"""``lrsearch search``, ``submit`` and ``worker``: create a search, run agents on it.

The ``search`` coordinator never loads torch: the spec is validated once, the service creates
or resumes the search (metric and direction from the catalog; a task the catalog cannot check
alone is loaded once in a child process), then W ``lrsearch worker`` processes train.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lrsearch.cli.app import (
    DeviceOption,
    StorageOption,
    ThreadsOption,
    app,
    check_device,
    command_settings,
    hang_up_as_terminate,
)
from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError

SpecArgument = Annotated[Path, typer.Argument(help="The search spec, a TOML file.")]


@app.command()
def search(
    spec: SpecArgument,
    workers: Annotated[int, typer.Option(help="Local worker processes.")] = 1,
    storage: StorageOption = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for plots and logs (default lrsearch-results/NAME).")
    ] = None,
) -> None:
    """Run a search: W local workers, a progress bar, then the best schedule and its plots.

    Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stop cleanly; running the same command again
    resumes and runs only what remains.
    """
    import optuna

    from lrsearch.cli.results import print_results
    from lrsearch.search.local import prepare_search
    from lrsearch.spec import load_spec_file

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    if workers < 1:
        raise InvalidInputError("--workers", f"{workers} is out of range: must be >= 1")
    from lrsearch.search.devices import probe_device

    check_device(device, probe_device)  # before the search is created: nothing left queued
    parsed = load_spec_file(spec)
    settings = command_settings(storage)
    found = prepare_search(settings, parsed)
    folder = out or Path("lrsearch-results") / parsed.name
    signal.signal(signal.SIGTERM, _interrupt)  # a process manager's stop is a Ctrl-C here
    hang_up_as_terminate()  # and so is a closed terminal
    console = Console(stderr=True)
    if not console.is_terminal:  # a log file: one wide line per refresh, not 80 columns
        console = Console(stderr=True, width=160)
    if found.remaining > 0:
        if found.finished:
            console.print(f"resuming {parsed.name}: {found.finished} of {found.trial_budget} done")
        outcome = _run_with_progress(
            settings, parsed.name, workers, device, threads, folder, console
        )
        if outcome.worker_errors:
            for error in outcome.worker_errors:
                console.print(f"[red]a worker failed:[/red]\n{error}")
            raise typer.Exit(1)
        if outcome.interrupted:
            s = outcome.search
            console.print(
                f"stopped: {s.finished} of {s.trial_budget} trials finished; "
                "run the same command to resume"
            )
            raise typer.Exit(130)
    has_best = print_results(settings, parsed.name, folder, named_storage=storage is not None)
    _exit_unless_ok(settings, parsed.name, has_best, console)


def _exit_unless_ok(settings: Settings, name: str, has_best: bool, console: Console) -> None:
    """Exit 1 when the search failed (its error printed) or no trial completed."""
    from lrsearch import store

    engine = store.make_engine(settings.storage_url, settings.sqlite_timeout_s)
    try:
        found = store.get_search(engine, name)
    finally:
        engine.dispose()
    if found.status == "failed":
        console.print(f"[red]search failed:[/red] {escape(found.error or 'no reason recorded')}")
        raise typer.Exit(1)
    if not has_best:
        raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_with_progress(
    settings: Settings,
    name: str,
    workers: int,
    device: str,
    threads: int | None,
    folder: Path,
    console: Console,
) -> Any:
    from lrsearch.cli.progress import progress_view
    from lrsearch.search.local import run_local
    from lrsearch.service import Backend

    with (
        Backend.from_settings(settings) as backend,
        progress_view(backend, name, console, summary_s=settings.summary_s) as show,
    ):
        return run_local(
            settings.storage_url,
            name,
            workers=workers,
            device=device,
            threads=threads,
            log_dir=folder / "logs",
            on_progress=show,
        )


@app.command()
def submit(spec: SpecArgument, storage: StorageOption = None) -> None:
    """Create a search (queued) without running anything: `lrsearch worker` agents pick it up."""
    from lrsearch.search.local import prepare_search
    from lrsearch.spec import load_spec_file

    parsed = load_spec_file(spec)
    found = prepare_search(command_settings(storage), parsed)
    print(f"{found.name}: {found.status}, {found.finished} of {found.trial_budget} trials done")


@app.command()
def worker(
    study: Annotated[
        str | None, typer.Option(help="Work on this search only (default: every active one).")
    ] = None,
    storage: StorageOption = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Keep polling for new searches instead of exiting.")
    ] = False,
    device: DeviceOption = "cpu",
    index: Annotated[int, typer.Option(help="This worker's index (seeds its sampler).")] = 0,
    of: Annotated[int, typer.Option(help="Workers on this machine (sets torch threads).")] = 1,
    threads: ThreadsOption = None,
) -> None:
    """Run trials of active searches until none is left; SIGTERM, SIGHUP or Ctrl-C stop it
    cleanly.

    Start one on every host that reaches the database: the budget of each search is shared.
    """
    from lrsearch.search import agent_log
    from lrsearch.search.devices import device_problem
    from lrsearch.search.worker import GracefulStop, Worker, WorkerStopped

    check_device(device, device_problem)
    agent_log.configure()  # one line per trial claimed and ended, on stderr
    settings = command_settings(storage)
    stop = GracefulStop()
    stop.install()
    hang_up_as_terminate()
    agent = Worker(
        settings.storage_url,
        study=study,
        wait=wait,
        settings=settings,
        worker_index=index,
        n_workers=of,
        device=device,
        threads=threads,
        stop=stop,
    )
    try:
        summary = agent.run()
    except WorkerStopped:
        print("worker stopped; its running trial was released to run again", file=sys.stderr)
        summary = agent.summary
    print(
        f"worker done: {summary.complete} complete, {summary.pruned} pruned, "
        f"{summary.failed} failed, {summary.interrupted} interrupted, {summary.lost} lost; "
        f"{summary.statements} database statements"
    )
