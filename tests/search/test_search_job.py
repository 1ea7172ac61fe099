"""`lrsearch search` as a user runs it: real worker processes on one SQLite file, Ctrl-C, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from searchutil import read_search, read_trials, spec_toml

from lrsearch import store
from tests.procutil import start_lrsearch

pytestmark = pytest.mark.slow


def _lrsearch(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return start_lrsearch(args, cwd, stderr=subprocess.PIPE)


def test_two_workers_on_one_sqlite_file_finish_exactly_the_budget(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(spec_toml("two", trials=12, epochs=2))
    url = f"sqlite:///{tmp_path / 'two.db'}"
    proc = _lrsearch(
        "search", "spec.toml", "--workers", "2", "--threads", "1", "--storage", url, cwd=tmp_path
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    logs = "".join(p.read_text() for p in (tmp_path / "lrsearch-results/two/logs").glob("*.log"))
    assert "database is locked" not in logs + err and "Traceback" not in logs
    assert logs.count("worker done") == 2
    assert [t.state.name for t in read_trials(url, "two")] == ["COMPLETE"] * 12
    search = read_search(url, "two")
    assert (search.n_complete, search.trials_claimed, search.status) == (12, 12, "done")
    assert "best of two" in out
    assert (tmp_path / "lrsearch-results/two/best_schedule.png").stat().st_size > 10_000
    assert (tmp_path / "lrsearch-results/two/trials.png").stat().st_size > 10_000
    best = subprocess.run(
        [sys.executable, "-m", "lrsearch", "best", "two", "--storage", url],
        capture_output=True,
        text=True,
        check=True,
    )
    engine = store.make_engine(url)
    try:
        materialized = store.get_best(engine, "two")
    finally:
        engine.dispose()
    assert materialized is not None
    assert json.loads(best.stdout)["trial_number"] == materialized.trial_number


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(spec_toml("resume", trials=8, epochs=250))
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    args = ("search", "spec.toml", "--workers", "2", "--threads", "1", "--storage", url)
    proc = _lrsearch(*args, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if (tmp_path / "resume.db").exists():
            try:
                if read_search(url, "resume").finished >= 2:
                    break
            except Exception:
                continue
    proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command to resume" in err and "Traceback" not in err
    stopped = read_search(url, "resume")
    assert 2 <= stopped.finished < 8
    states = [t.state.name for t in read_trials(url, "resume")]
    assert "RUNNING" not in states  # nothing left dangling
    interrupted = states.count("FAIL")
    assert interrupted == stopped.n_retried and stopped.trials_claimed == stopped.finished

    again = _lrsearch(*args, cwd=tmp_path)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"resuming resume: {stopped.finished} of 8 done" in err
    done = read_search(url, "resume")
    assert (done.n_complete, done.status) == (8, "done")
    assert [t.state.name for t in read_trials(url, "resume")].count(
        "COMPLETE"
    ) == 8  # only the remaining ones ran


def test_sigterm_stops_the_search_job_like_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(spec_toml("term", trials=6, epochs=250))
    url = f"sqlite:///{tmp_path / 'term.db'}"
    proc = _lrsearch("search", "spec.toml", "--threads", "1", "--storage", url, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            if read_search(url, "term").running >= 1:
                break
        except Exception:
            continue
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    stopped = read_search(url, "term")
    assert stopped.running == 0 and stopped.finished < 6
    assert "RUNNING" not in [t.state.name for t in read_trials(url, "term")]
