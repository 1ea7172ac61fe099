"""A bug in the user's model is loud: `lrsearch search` shows the first failure with its
traceback, stops the search after the same error N times, and exits non-zero."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from searchutil import read_search, read_trials

from lrsearch import service
from lrsearch.config import Settings
from tests.procutil import start_lrsearch

pytestmark = pytest.mark.slow

# A real bug: the model's first layer expects 63 inputs, the digits have 64.
BUGGY_TASK = """
from torch import nn

from lrsearch.tasks.digits import digits_mlp


def make():
    task = digits_mlp(hidden=16)
    task.make_model = lambda: nn.Sequential(nn.Linear(63, 10))
    return task
"""

SPEC = """
name = "{name}"
task = "python:buggy_task:make"
baselines = false
[budget]
trials = {trials}
epochs = 1
[search]
sampler = "random"
pruner = "none"
stop_after_failures = {stop}
[space]
families = ["constant", "cosine"]
optimizers = ["sgd"]
"""


def _search(tmp_path: Path, name: str, trials: int, stop: int, workers: int) -> tuple[int, str]:
    (tmp_path / "buggy_task.py").write_text(BUGGY_TASK)
    (tmp_path / "spec.toml").write_text(SPEC.format(name=name, trials=trials, stop=stop))
    url = f"sqlite:///{tmp_path / 'loud.db'}"
    args = ("search", "spec.toml", "--workers", str(workers), "--threads", "1", "--storage", url)
    proc = start_lrsearch(args, tmp_path, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def test_the_same_error_three_times_stops_the_search_and_exits_1(tmp_path: Path) -> None:
    code, out = _search(tmp_path, "buggy", trials=20, stop=3, workers=2)
    url = f"sqlite:///{tmp_path / 'loud.db'}"
    assert code == 1, out
    reason = "error: RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    # The first failure, with its traceback tail, while the search runs...
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if " FAIL " in line)
    assert lines[first].endswith(f"(sgd) - {reason} (64x64 and 63x10)"), lines[first]
    tail = lines[first + 1 : lines.index(next(x for x in lines if x.startswith("RuntimeError")))]
    assert any("F.linear(input, self.weight, self.bias)" in line for line in tail)
    assert sum(line.startswith("RuntimeError: mat1") for line in lines) == 1  # the first only
    # ...then the search's error, and no budget burnt beyond the running trials.
    assert f"search failed: stopped after 3 failed trials: {reason}" in out
    search = read_search(url, "buggy")
    assert search.status == "failed" and 3 <= search.n_failed <= 4 and search.n_complete == 0
    assert search.error is not None and search.error.startswith("stopped after 3 failed trials")
    trials = read_trials(url, "buggy")
    assert all(t.user_attrs["fail_reason"].startswith(reason) for t in trials)
    tail = trials[0].user_attrs["fail_traceback"]
    assert tail.startswith("Traceback") or "\n" in tail
    assert tail.rstrip().splitlines()[-1].startswith("RuntimeError: mat1 and mat2")
    assert len(tail) <= 4000
    # The API reads the same error.
    with service.Backend.from_settings(Settings(storage_url=url)) as backend:
        assert service.get_study(backend, "buggy").search.error == search.error
    # Fixed, the same command resumes the search and runs what is left of its budget.
    (tmp_path / "buggy_task.py").write_text(BUGGY_TASK.replace("63", "64"))
    args = ("search", "spec.toml", "--workers", "2", "--threads", "1", "--storage", url)
    proc = start_lrsearch(args, tmp_path, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    fixed = read_search(url, "buggy")
    assert (fixed.status, fixed.error, fixed.n_failed) == ("done", None, search.n_failed)
    assert fixed.n_complete == 20 - search.n_failed


def test_no_completed_trial_exits_1_even_when_the_search_never_stops(tmp_path: Path) -> None:
    code, out = _search(tmp_path, "never", trials=2, stop=0, workers=1)
    assert code == 1, out
    assert "no trial completed" in out and "search failed" not in out
    assert read_search(f"sqlite:///{tmp_path / 'loud.db'}", "never").status == "done"
