"""What `lrsearch search` shows while it runs: in a log (not a terminal) one line per finished
trial and a periodic summary; on an 80-column terminal a line that keeps the count and the best;
in each agent's log one line per trial claimed and ended."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from searchutil import read_trials, spec_toml

from lrsearch import store
from lrsearch.cli.progress import progress_view
from lrsearch.config import Settings
from lrsearch.service import Backend
from lrsearch.store.migrate import ensure_current
from tests.procutil import start_lrsearch


@pytest.mark.slow
def test_a_log_gets_a_line_per_trial_and_a_summary(tmp_path: Path) -> None:
    spec = spec_toml("logged", trials=8, epochs=2)  # the 6 baselines first, then 2 searched
    (tmp_path / "spec.toml").write_text(spec)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    args = ("search", "spec.toml", "--workers", "2", "--threads", "1", "--storage", url)
    proc = start_lrsearch(args, tmp_path, env={"LRSEARCH_SUMMARY_S": "0.5"})
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    trials = {t.number: t for t in read_trials(url, "logged")}
    for number, trial in trials.items():
        family = trial.user_attrs["schedule"]["family"]
        what = "(baseline)" if "baseline" in trial.user_attrs else "(sgd)"
        line = f"trial {number} COMPLETE val_accuracy={trial.value:.6g} {family} {what}"
        assert out.count(line + "\n") == 1, (line, out)
    assert re.search(r"^logged: \d of 8 finished · best val_accuracy [\d.]+ · complete", out, re.M)
    logs = tmp_path / "lrsearch-results/logged/logs"
    agents = "".join(p.read_text() for p in logs.glob("worker-*.log"))
    for number, trial in trials.items():
        assert f"trial {number} of logged claimed (attempt 1)" in agents
        value = f"val_accuracy={trial.value:.6g}"
        assert re.search(rf"^\S+ \S+ trial {number} of logged complete: {value} \(", agents, re.M)


def test_an_80_column_terminal_keeps_the_count_and_the_best(sqlite_url: str) -> None:
    engine = store.make_engine(sqlite_url)
    ensure_current(engine)
    store.create_search(
        engine,
        name="a-rather-long-search-name",
        spec={},
        task="digits-mlp",
        metric="val_accuracy",
        direction="maximize",
        trial_budget=40,
    )
    for number, value in enumerate([0.91234, 0.95678, 0.9]):
        lease = store.claim_trial(engine, "a-rather-long-search-name")
        assert lease is not None
        store.record_trial(
            engine, lease, outcome="complete", trial_number=number, value=value, config={}
        )
    search = store.get_search(engine, "a-rather-long-search-name")
    best = store.get_best(engine, "a-rather-long-search-name")
    engine.dispose()
    screen = io.StringIO()
    console = Console(file=screen, width=80, force_terminal=True, color_system=None)
    with (
        Backend.from_settings(Settings(storage_url=sqlite_url)) as backend,
        progress_view(backend, search.name, console) as show,
    ):
        show(search, best)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    text = [line for line in re.split(r"[\r\n]", plain) if line.strip()][-1].rstrip()
    assert len(text) <= 80
    assert "3/40" in text and "best 0.9568" in text, text


def test_the_feed_gives_each_finished_trial_once_and_skips_a_resumed_past(db_url: str) -> None:
    import optuna

    from lrsearch.service.progress import TrialFeed

    engine = store.make_engine(db_url)
    ensure_current(engine)
    storage = store.make_optuna_storage(db_url)
    study = optuna.create_study(study_name="f", storage=storage, direction="maximize")
    store.create_search(
        engine,
        name="f",
        spec={},
        task="digits-mlp",
        metric="val_accuracy",
        direction="maximize",
        trial_budget=10,
    )

    def finish(value: float) -> None:
        trial = study.ask()
        trial.set_user_attr("schedule", {"family": "cosine", "lr": 0.1})
        study.tell(trial, value)
        lease = store.claim_trial(engine, "f")
        assert lease is not None
        assert store.start_trial(engine, lease, trial.number, trial._trial_id)
        store.record_trial(
            engine, lease, outcome="complete", trial_number=trial.number, value=value, config={}
        )

    finish(0.5)
    finish(0.6)  # finished before `lrsearch search` (resumed) started watching
    with Backend.from_settings(Settings(storage_url=db_url)) as backend:
        feed = TrialFeed(backend, "f")
        feed.start()
        assert feed.new() == []
        finish(0.7)
        (fresh,) = feed.new()
        assert (fresh.number, fresh.state, fresh.value, fresh.family) == (
            2,
            "COMPLETE",
            0.7,
            "cosine",
        )
        assert feed.new() == []
    storage.engine.dispose()
    engine.dispose()


def test_a_terminal_shows_the_first_failure_with_its_traceback(sqlite_url: str) -> None:
    import optuna

    engine = store.make_engine(sqlite_url)
    ensure_current(engine)
    storage = store.make_optuna_storage(sqlite_url)
    study = optuna.create_study(study_name="t", storage=storage)
    store.create_search(
        engine, name="t", spec={}, task="x", metric="val_loss", direction="minimize", trial_budget=9
    )
    screen = io.StringIO()
    console = Console(file=screen, width=80, force_terminal=True, color_system=None)
    reasons = [
        "error: ValueError: bad shape",
        "error: ValueError: bad shape",
        "error: KeyError: 'x'",
    ]
    with (
        Backend.from_settings(Settings(storage_url=sqlite_url)) as backend,
        progress_view(backend, "t", console) as show,
    ):
        for reason in reasons:
            trial = study.ask()
            trial.set_user_attr("fail_reason", reason)
            trial.set_user_attr("fail_traceback", f"Traceback (most recent call last):\n{reason}")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            lease = store.claim_trial(engine, "t")
            assert lease is not None and store.start_trial(
                engine, lease, trial.number, trial._trial_id
            )
            store.record_trial(
                engine, lease, outcome="failed", trial_number=trial.number, reason=reason
            )
            show(store.get_search(engine, "t"), None)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "trial 0 failed: error: ValueError: bad shape" in plain
    assert plain.count("Traceback (most recent call last):") == 1  # the first failure's only
    assert "trial 1 failed" not in plain  # the same reason again: already said
    assert "trial 2 failed another way: error: KeyError: 'x'" in plain
    storage.engine.dispose()
    engine.dispose()
