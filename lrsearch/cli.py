"""The command line: parses arguments, builds what a command needs, calls one function.

Bad input exits with code 2 and one line on stderr (``lrsearch: error: <field>: <reason>``),
never a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lrsearch.config import Settings
from lrsearch.errors import (
    ConflictError,
    InvalidInputError,
    LRSearchError,
    NotFoundError,
)
from lrsearch.schedules import ScheduleSpec, families, get_family

app = typer.Typer(
    help="lrsearch: find the best learning-rate schedule for a model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schedules_app = typer.Typer(help="Inspect and plot the schedule families.", no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="SQLAlchemy URL (default: LRSEARCH_STORAGE_URL, else sqlite:///lrsearch.db).",
    ),
]
DeviceOption = Annotated[str, typer.Option(help="cpu, cuda or auto.")]
ThreadsOption = Annotated[
    int | None, typer.Option(help="torch threads per worker (default: cores / workers).", min=1)
]


def _storage(url: str | None) -> str:
    return url or Settings().storage_url


@app.command()
def search(
    spec: Annotated[Path, typer.Argument(help="The search spec, a TOML file.")],
    workers: Annotated[int, typer.Option(help="Local worker processes.")] = 1,
    storage: StorageOption = None,
    device: DeviceOption = "cpu",
    threads: ThreadsOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for plots and logs (default lrsearch-results/NAME).")
    ] = None,
) -> None:
    """Run a search: W local workers, a progress bar, then the best schedule and its plots.

    Ctrl-C stops cleanly; running the same command again resumes and runs only what remains.
    """
    import optuna

    from lrsearch.search.local import prepare_search
    from lrsearch.spec import load_spec_file

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    if workers < 1:
        raise InvalidInputError("--workers", f"{workers} is out of range: must be >= 1")
    _check_device(device)
    parsed = load_spec_file(spec)
    url = _storage(storage)
    found = prepare_search(url, parsed)
    folder = out or Path("lrsearch-results") / parsed.name
    signal.signal(signal.SIGTERM, _interrupt)  # a process manager's stop is a Ctrl-C here
    if found.remaining > 0:
        console = Console(stderr=True)
        if not console.is_terminal:  # a log file: one wide line per refresh, not 80 columns
            console = Console(stderr=True, width=160)
        if found.finished:
            console.print(f"resuming {parsed.name}: {found.finished} of {found.trial_budget} done")
        outcome = _run_with_progress(url, parsed.name, workers, device, threads, folder, console)
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
    _print_results(url, parsed.name, folder)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_with_progress(
    url: str,
    name: str,
    workers: int,
    device: str,
    threads: int | None,
    folder: Path,
    console: Console,
) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lrsearch.search.local import run_local

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, refresh_per_second=4) as progress:
        bar = progress.add_task(name, total=None, stats="starting workers")

        def show(search: Any, best: Any) -> None:
            best_text = f"{best.value:.4g}" if best is not None else "-"
            stats = (
                f"complete {search.n_complete} · pruned {search.n_pruned} · "
                f"failed {search.n_failed} · running {max(search.running, 0)} · "
                f"retried {search.n_retried} · best {search.metric} {best_text}"
            )
            progress.update(bar, total=search.trial_budget, completed=search.finished, stats=stats)

        return run_local(
            url,
            name,
            workers=workers,
            device=device,
            threads=threads,
            log_dir=folder / "logs",
            on_progress=show,
        )


def _print_results(url: str, name: str, folder: Path) -> None:
    from lrsearch.plots import plot_schedules, plot_trial_curves
    from lrsearch.search.results import best_config, trial_curves
    from lrsearch.spec import parse_spec
    from lrsearch.store import get_search, make_engine

    engine = make_engine(url)
    try:
        found = get_search(engine, name)
    finally:
        engine.dispose()
    console = Console()
    console.print(
        f"[bold]{name}[/bold]: {found.n_complete} complete, {found.n_pruned} pruned, "
        f"{found.n_failed} failed of {found.trial_budget} trials"
        + (
            f" ({found.n_retried} re-run after an interruption or a lost worker)"
            if found.n_retried
            else ""
        )
    )
    try:
        best = best_config(url, name)
    except NotFoundError:
        console.print("no trial completed, so there is no best schedule")
        return
    schedule = ScheduleSpec.from_dict(best["schedule"], complete=True)
    table = Table(
        title=f"best of {name}: {best['metric']} = {best['value']:.6g}", show_header=False
    )
    table.add_row("trial", str(best["trial_number"]))
    table.add_row("family", schedule.family)
    table.add_row("peak lr", f"{schedule.lr:.6g}")
    for key, value in schedule.params.items():
        table.add_row(f"  {key}", _show(value))
    table.add_row("warmup", f"{schedule.warmup_fraction:.4g} of the budget")
    options = ", ".join(f"{k}={v}" for k, v in best["optimizer_params"].items())
    table.add_row("optimizer", f"{best['optimizer']} {options}".strip())
    console.print(table)
    spec = parse_spec(found.spec)
    steps = best["steps"] or _trial_steps(spec)
    curve_png = plot_schedules(
        [(schedule.family, schedule)],
        steps,
        folder / "best_schedule.png",
        title=f"{name}: best schedule over {steps:,} steps",
    )
    curves = [(c.number, c.state, c.values) for c in trial_curves(url, name)]
    trials_png = plot_trial_curves(
        curves,
        best["trial_number"],
        best["metric"],
        folder / "trials.png",
        title=f"{name}: validation curves",
    )
    console.print(f"plots: {curve_png}, {trials_png}")
    where = "" if url == Settings().storage_url else f" --storage {url}"
    console.print(f"as JSON: lrsearch best {name}{where}")
    console.print(f"the report, with the baselines: lrsearch report {name}{where} -o report.html")


def _trial_steps(spec: Any) -> int:
    """Updates per trial from the spec (for searches whose epochs were not recorded)."""
    if spec.budget.steps is not None:
        return int(spec.budget.steps)
    from lrsearch.tasks.registry import load_task
    from lrsearch.train.loop import steps_per_epoch

    epochs = spec.budget.epochs or 10
    return epochs * steps_per_epoch(load_task(spec.task, spec.task_options))


@app.command()
def best(
    name: Annotated[str, typer.Argument(help="The search (study) name.")],
    storage: StorageOption = None,
) -> None:
    """Print the best config of a search as JSON."""
    from lrsearch.search.results import best_config

    print(json.dumps(best_config(_storage(storage), name), indent=2))


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="The search (study) name.")],
    storage: StorageOption = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    steps: Annotated[
        int | None,
        typer.Option(
            help="Render curves for this many updates (default: the best trial's).", min=1
        ),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Schedules in the top-k plot.", min=1, max=20)] = 5,
) -> None:
    """Write a self-contained HTML report: best schedule, top-k, curves, families, baselines."""
    from lrsearch.report import study_report
    from lrsearch.store import make_engine, make_optuna_storage, require_current

    url = _storage(storage)
    engine = make_engine(url)
    try:
        require_current(engine)
        page = study_report(engine, make_optuna_storage(url), name, top_k=top_k, steps=steps)
    finally:
        engine.dispose()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    print(f"wrote {output} ({len(page) // 1024} KiB, opens offline)")


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
    """Run trials of active searches until none is left; SIGTERM or Ctrl-C stop it cleanly.

    Start one on every host that reaches the database: the budget of each search is shared.
    """
    from lrsearch.search.worker import GracefulStop, Worker, WorkerStopped

    _check_device(device)
    stop = GracefulStop()
    stop.install()
    agent = Worker(
        _storage(storage),
        study=study,
        wait=wait,
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


@app.command()
def submit(
    spec: Annotated[Path, typer.Argument(help="The search spec, a TOML file.")],
    storage: StorageOption = None,
) -> None:
    """Create a search (queued) without running anything: `lrsearch worker` agents pick it up."""
    from lrsearch.search.local import prepare_search
    from lrsearch.spec import load_spec_file

    parsed = load_spec_file(spec)
    found = prepare_search(_storage(storage), parsed)
    print(f"{found.name}: {found.status}, {found.finished} of {found.trial_budget} trials done")


@app.command()
def stop(
    name: Annotated[str, typer.Argument(help="The search (study) name.")],
    storage: StorageOption = None,
) -> None:
    """Stop claiming new trials of a search; running trials finish, then it is done."""
    from lrsearch.store import make_engine, require_current, stop_search

    engine = make_engine(_storage(storage))
    try:
        require_current(engine)
        found = stop_search(engine, name)
    finally:
        engine.dispose()
    print(f"{found.name}: {found.status} ({found.running} trials still running)")


@app.command()
def serve(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
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
    submitted over HTTP; stop the service with Ctrl-C or SIGTERM and they release their trials.
    """
    import uvicorn

    from lrsearch.api import create_app
    from lrsearch.search.local import start_workers, stop_workers, worker_command
    from lrsearch.store import ensure_current, make_engine, make_optuna_storage

    _check_device(device)
    settings = Settings()
    updates: dict[str, Any] = {"storage_url": storage} if storage else {}
    settings = settings.model_copy(update=updates | ({"dev": True} if dev else {}))
    engine = make_engine(settings.storage_url)
    try:
        make_optuna_storage(settings.storage_url).engine.dispose()  # Optuna's tables
        ensure_current(engine)  # lrsearch's: created on a fresh database, else must be current
    finally:
        engine.dispose()
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
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    except KeyboardInterrupt:
        pass
    finally:
        stop_workers(procs)


@app.command()
def dashboard(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
) -> None:
    """Start optuna-dashboard on the same storage as the searches (Ctrl-C stops it)."""
    from lrsearch.dashboard import serve_dashboard
    from lrsearch.store import make_engine, make_optuna_storage, require_current

    url = _storage(storage)
    engine = make_engine(url)
    try:
        require_current(engine)  # a wrong URL is one line here, not an empty dashboard
    finally:
        engine.dispose()
    serve_dashboard(
        make_optuna_storage(url),
        host,
        port,
        on_ready=lambda address: print(f"optuna-dashboard: {address} on {url}", flush=True),
    )


@db_app.command("upgrade")
def db_upgrade(storage: StorageOption = None) -> None:
    """Create or upgrade Optuna's and lrsearch's tables to the current schema."""
    from lrsearch.store import upgrade

    before, after = upgrade(_storage(storage))
    print(f"lrsearch schema: {before or 'empty'} -> {after}; Optuna schema: current")


def _check_device(device: str) -> None:
    if device not in ("cpu", "auto") and not device.startswith("cuda"):
        raise InvalidInputError("--device", f"{device!r} is not allowed: must be cpu, cuda or auto")


_SPEC_FIELDS = ("lr", "warmup_fraction", "warmup_start_factor")


@schedules_app.command("list")
def schedules_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The families with their parameters, defaults and allowed ranges."""
    if as_json:
        print(json.dumps([_family_json(f.name) for f in families()], indent=2))
        return
    table = Table(title="Schedule families (time parameters are fractions of the budget)")
    for column in ("family", "parameter", "default", "allowed"):
        table.add_column(column, no_wrap=True)
    table.add_column("meaning", overflow="fold", min_width=20)
    for fam in families():
        table.add_row(
            f"[bold]{fam.name}[/bold]", "", "", "", fam.summary, end_section=not fam.params
        )
        for i, p in enumerate(fam.params):
            table.add_row(
                "",
                p.name,
                _show(p.default),
                p.range_text(),
                p.help,
                end_section=i == len(fam.params) - 1,
            )
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
    console.print(
        "Every family also takes lr (peak LR, > 0), warmup_fraction in [0, 1) and "
        "warmup_start_factor in [0, 1]."
    )


@schedules_app.command("plot")
def schedules_plot(
    schedules: Annotated[
        list[str],
        typer.Argument(help="Families to draw, as FAMILY or LABEL=FAMILY (to draw one twice)."),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="LABEL.KEY=VALUE (repeatable); lists as 0.5,0.75. KEY may also be lr, "
            "warmup_fraction or warmup_start_factor.",
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Length of the run, in optimizer updates.")] = 1000,
    lr: Annotated[
        float, typer.Option(help="Peak LR for every curve, unless --param sets it.")
    ] = 0.1,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path(
        "schedules.png"
    ),
    log: Annotated[bool, typer.Option("--log", help="Logarithmic LR axis.")] = False,
    grid: Annotated[bool, typer.Option("--grid", help="One panel per curve.")] = False,
) -> None:
    """Draw schedules in one labelled figure, to see a curve before searching with it."""
    from lrsearch.plots import plot_schedules

    labelled = _build_specs(schedules, param or [], lr)
    if steps < 1:
        raise InvalidInputError("--steps", f"{steps} is out of range: must be >= 1")
    path = plot_schedules(labelled, steps, output, log_y=log, grid=grid)
    print(f"wrote {path} ({len(labelled)} curves over {steps} steps)")


def _build_specs(
    schedules: list[str], params: list[str], lr: float
) -> list[tuple[str, ScheduleSpec]]:
    """Turn ``LABEL=FAMILY`` arguments and ``LABEL.KEY=VALUE`` options into specs."""
    families_by_label: dict[str, str] = {}
    for item in schedules:
        label, _, family = item.rpartition("=")
        label = label or family
        if label in families_by_label:
            raise InvalidInputError(item, f"label {label!r} is used twice: write LABEL={family}")
        get_family(family)
        families_by_label[label] = family
    overrides: dict[str, dict[str, Any]] = {label: {} for label in families_by_label}
    for item in params:
        target, eq, value = item.partition("=")
        label, dot, key = target.partition(".")
        if not (eq and dot and key):
            raise InvalidInputError("--param", f"{item!r} is not of the form LABEL.KEY=VALUE")
        if label not in overrides:
            known = ", ".join(families_by_label)
            raise InvalidInputError(
                f"--param {item}", f"{label!r} is not plotted (plotted: {known})"
            )
        overrides[label][key] = value
    return [
        (label, _spec_from_strings(family, overrides[label], lr))
        for label, family in families_by_label.items()
    ]


def _spec_from_strings(family: str, values: dict[str, str], lr: float) -> ScheduleSpec:
    fam = get_family(family)
    fields: dict[str, Any] = {"lr": lr}
    params: dict[str, Any] = {}
    for key, value in values.items():
        if key in _SPEC_FIELDS:
            fields[key] = _float(value, f"{family}.{key}")
        elif any(p.name == key for p in fam.params):
            listed = fam.param(key).kind in ("fractions", "floats")
            params[key] = value.split(",") if listed else value
        else:
            params[key] = value  # ScheduleSpec names the unknown parameter and the known ones
    return ScheduleSpec.create(family, params=params, **fields)


def _float(value: str, field: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidInputError(field, f"{value!r} is not a number") from None


def _family_json(name: str) -> dict[str, Any]:
    from lrsearch.api.schemas import family_public

    return family_public(get_family(name)).model_dump()


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def main() -> None:
    """Console-script entry point: one line and exit code 2 for bad input."""
    try:
        app()
    except (InvalidInputError, NotFoundError, ConflictError) as exc:
        print(f"lrsearch: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except LRSearchError as exc:
        print(f"lrsearch: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
