"""What ``lrsearch search`` shows while its agents run.

On a terminal: a progress bar whose line keeps the count and the best value even at 80 columns.
Elsewhere (CI, Slurm, a log file): one line per finished trial (number, state, value, family)
and a summary line every ``summary_s`` seconds. Both print the first failure's reason and the
tail of its traceback as soon as it happens, and every new kind of failure after it in one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lrsearch import store
from lrsearch.service import Backend
from lrsearch.service.progress import FinishedTrial, TrialFeed

SUMMARY_S = 30.0
TRACEBACK_SHOWN = 16  # lines of the first failure's traceback (the trial keeps more)
Show = Callable[[store.Search, store.Best | None], None]


def stats(search: store.Search, best: store.Best | None, *, wide: bool) -> str:
    """The counts and the best value; ``wide`` spells the counts out, else best comes first."""
    best_text = f"{best.value:.4g}" if best is not None else "-"
    running = max(search.running, 0)
    if not wide:
        return (
            f"best {best_text} · ok {search.n_complete} pr {search.n_pruned} "
            f"fail {search.n_failed} run {running}"
        )
    return (
        f"best {search.metric} {best_text} · complete {search.n_complete} · "
        f"pruned {search.n_pruned} · failed {search.n_failed} · running {running} · "
        f"retried {search.n_retried}"
    )


def trial_line(trial: FinishedTrial, metric: str) -> str:
    """``trial 7 COMPLETE val_loss=0.1234 cosine (adamw)``; a failure with its reason."""
    words = [f"trial {trial.number}", trial.state]
    if trial.value is not None:
        words.append(f"{metric}={trial.value:.6g}")
    what = trial.family or "-"
    if trial.baseline:
        what += " (baseline)" if trial.baseline == trial.family else f" (baseline {trial.baseline})"
    elif trial.optimizer:
        what += f" ({trial.optimizer})"
    if trial.confirms is not None:
        what += f", confirming trial {trial.confirms}"
    words.append(what)
    if trial.state == "FAIL" and trial.reason:
        words.append(f"- {trial.reason}")
    return " ".join(words)


class FailureNotes:
    """The first failure in full (reason and traceback tail), each new reason in one line.

    ``with_reason`` False: the caller printed the reason already (the trial's own line).
    """

    def __init__(self, print_: Callable[..., None], *, with_reason: bool = True) -> None:
        self.print, self.with_reason, self.reasons = print_, with_reason, set[str]()

    def see(self, trial: FinishedTrial) -> None:
        reason = trial.reason or "no reason recorded"
        if trial.state != "FAIL" or reason in self.reasons:
            return
        first = not self.reasons
        self.reasons.add(reason)
        if self.with_reason:
            how = "failed" if first else "failed another way"
            self.print(f"[red]trial {trial.number} {how}:[/red] {escape(reason)}")
        if first and trial.traceback:
            tail = "\n".join(trial.traceback.splitlines()[-TRACEBACK_SHOWN:])
            self.print(f"[dim]{escape(tail)}[/dim]", soft_wrap=True)


@contextmanager
def progress_view(
    backend: Backend, name: str, console: Console, *, summary_s: float = SUMMARY_S
) -> Iterator[Show]:
    """A callback for ``run_local``'s ``on_progress``, drawing on ``console``."""
    feed = TrialFeed(backend, name)
    feed.start()  # a resumed search's earlier trials are not news
    if console.is_terminal:
        with _bar(feed, name, console) as show:
            yield show
    else:
        yield _lines(feed, console, summary_s)


@contextmanager
def _bar(feed: TrialFeed, name: str, console: Console) -> Iterator[Show]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None if console.width >= 120 else 12),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, refresh_per_second=4) as progress:
        bar = progress.add_task(name, total=None, stats="starting workers")
        notes = FailureNotes(progress.console.print)
        finished = [-1]

        def show(search: store.Search, best: store.Best | None) -> None:
            if search.finished != finished[0]:
                finished[0] = search.finished
                for trial in feed.new():
                    notes.see(trial)
            text = stats(search, best, wide=console.width >= 120)
            progress.update(bar, total=search.trial_budget, completed=search.finished, stats=text)

        yield show


def _lines(feed: TrialFeed, console: Console, summary_s: float) -> Show:
    notes = FailureNotes(console.print, with_reason=False)
    state: dict[str, Any] = {"finished": -1, "summary_at": time.monotonic()}

    def show(search: store.Search, best: store.Best | None) -> None:
        if search.finished != state["finished"]:
            state["finished"] = search.finished
            for trial in feed.new():
                console.print(escape(trial_line(trial, search.metric)), highlight=False)
                notes.see(trial)
        if time.monotonic() - state["summary_at"] >= summary_s:
            state["summary_at"] = time.monotonic()
            console.print(summary_line(search, best), highlight=False)

    return show


def summary_line(search: store.Search, best: store.Best | None) -> str:
    """``NAME: 5 of 20 finished · best ... · complete ...`` (the periodic line of a log)."""
    return (
        f"{escape(search.name)}: {search.finished} of {search.trial_budget} finished · "
        + escape(stats(search, best, wide=True))
    )
