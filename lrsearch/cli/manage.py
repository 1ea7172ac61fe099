"""``lrsearch studies``, ``status``, ``delete``, ``extend`` and ``retry``: managing the studies
of a database from the command line, each one call into lrsearch.service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lrsearch.cli.app import NameArgument, StorageOption, app, command_settings
from lrsearch.errors import InvalidInputError

PAGE = 1000


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


@app.command()
def studies(storage: StorageOption = None) -> None:
    """List the studies: status, trials by outcome, best value."""
    from lrsearch import service

    with service.Backend.current(command_settings(storage)) as backend:
        rows, total = service.list_studies(backend, limit=PAGE, offset=0)
        while len(rows) < total:
            more, _ = service.list_studies(backend, limit=PAGE, offset=len(rows))
            if not more:
                break
            rows += more
    if not rows:
        print("no studies yet: create one with `lrsearch search SPEC.toml` or `lrsearch submit`")
        return
    table = Table(title=f"{total} {'study' if total == 1 else 'studies'}")
    for column in ("name", "status", "done", "complete", "pruned", "failed", "running"):
        table.add_column(
            column, no_wrap=True, justify="left" if column in ("name", "status") else "right"
        )
    table.add_column("best", no_wrap=True)
    for row in rows:
        s = row.search
        best = f"{s.metric} {row.best_value:.6g}" if row.best_value is not None else "-"
        table.add_row(
            s.name,
            s.status,
            f"{s.finished}/{s.trial_budget}",
            str(s.n_complete),
            str(s.n_pruned),
            str(s.n_failed),
            str(max(s.running, 0)),
            best,
        )
    _console().print(table)


@app.command()
def status(name: NameArgument, storage: StorageOption = None) -> None:
    """One study's progress, its failures with their reasons, and its running trials with
    the agents (host:pid) that run them."""
    from lrsearch import service

    with service.Backend.current(command_settings(storage)) as backend:
        found = service.study_status(backend, name)
    s, best = found.search, found.summary
    console = _console()
    console.print(
        f"[bold]{s.name}[/bold]: {s.status}; {s.finished} of {s.trial_budget} trials finished "
        f"({s.n_complete} complete, {s.n_pruned} pruned, {s.n_failed} failed), "
        f"{max(s.running, 0)} running, {max(s.remaining - max(s.running, 0), 0)} to start"
        + (f"; {s.n_retried} re-run after an interruption or a lost agent" if s.n_retried else "")
    )
    if s.error:
        console.print(f"error: {s.error}", markup=False)
    if best.best_value is not None:
        console.print(f"best: {s.metric} = {best.best_value:.6g} (trial {best.best_trial})")
    else:
        console.print(f"best: none yet ({s.metric}, {s.direction})")
    for group in found.failures:
        numbers = ", ".join(str(n) for n in group.trial_numbers)
        more = ", ..." if group.count > len(group.trial_numbers) else ""
        console.print(
            f"failed x{group.count}: {group.reason} (trials {numbers}{more})", markup=False
        )
    if found.failures:
        console.print(f"re-run them after a fix: lrsearch retry {s.name} --failed")
    now = datetime.now(UTC)
    for lease in found.running:
        which = f"trial {lease.trial_number}" if lease.trial_number is not None else "a new trial"
        retry = f", attempt {lease.attempt}" if lease.attempt > 1 else ""
        beat = max((now - lease.heartbeat_at).total_seconds(), 0.0)
        console.print(
            f"running: {which} on {lease.worker}{retry} (last heartbeat {beat:.0f} s ago)",
            markup=False,
        )


@app.command()
def delete(
    name: NameArgument,
    storage: StorageOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a study: its trials and results, in lrsearch's tables and Optuna's. A running
    study must be stopped first (`lrsearch stop`)."""
    from lrsearch import service

    with service.Backend.current(command_settings(storage)) as backend:
        found = service.get_study(backend, name).search
        if not yes:  # no answer (stdin closed) aborts: nothing is deleted
            typer.confirm(
                f"delete study {name!r} and its {found.finished} finished trials?", abort=True
            )
        service.delete_study(backend, name)
    print(f"deleted {name}")


@app.command()
def extend(
    name: NameArgument,
    trials: Annotated[int, typer.Option(help="Trials to add to the budget.")],
    storage: StorageOption = None,
) -> None:
    """Add trials to a study's budget, finished or running: a finished study becomes live
    again, and agents (`lrsearch worker`, `lrsearch search` of its spec) run the new trials."""
    from lrsearch import service

    with service.Backend.current(command_settings(storage)) as backend:
        s = service.extend_study(backend, name, trials).search
    print(
        f"{s.name}: {s.status}, {s.finished} of {s.trial_budget} trials finished "
        f"({trials} added); run them with `lrsearch worker --study {s.name}`"
    )


@app.command()
def retry(
    name: NameArgument,
    failed: Annotated[
        bool, typer.Option("--failed", help="Re-run the failed trials with their parameters.")
    ] = False,
    storage: StorageOption = None,
) -> None:
    """Queue the failed trials' exact parameters again (after a fix), with budget for them;
    agents run them before sampling new ones."""
    from lrsearch import service

    if not failed:
        raise InvalidInputError("--failed", "say which trials to retry: --failed (the only kind)")
    with service.Backend.current(command_settings(storage)) as backend:
        done = service.retry_failed(backend, name)
    s = done.search
    if not done.added:
        print(f"{s.name}: no failed trial left to retry ({s.n_failed} failed, all retried)")
        return
    numbers = ", ".join(str(n) for n in done.requeued)
    fresh = f"; {done.fresh} without parameters get a fresh sample" if done.fresh else ""
    print(
        f"{s.name}: {len(done.requeued)} failed trials queued again "
        f"({numbers or 'none'}){fresh}; budget now {s.trial_budget}, {s.status}; "
        f"run them with `lrsearch worker --study {s.name}`"
    )
