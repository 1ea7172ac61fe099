"""The end-of-search summary says when the best is a baseline, and on how many optimizer steps
the schedules were searched."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from searchutil import read_trials

from tests.procutil import start_lrsearch

pytestmark = pytest.mark.slow

# A constant LR far too large to learn (or even to stay finite): the baselines, run after the
# search (at its LR, or at the classic one when no searched trial completed), decay, and win.
SPEC = """
name = "summary"
task = "digits-mlp"
task_options = { hidden = 16 }
[budget]
trials = 2
epochs = 1
[search]
sampler = "random"
pruner = "none"
[space]
families = ["constant"]
lr = [100.0, 100.0]
optimizers = ["sgd"]
"""


def test_a_winning_baseline_and_the_searched_length_are_said(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(SPEC)
    url = f"sqlite:///{tmp_path / 's.db'}"
    args = ("search", "spec.toml", "--threads", "1", "--storage", url)
    proc = start_lrsearch(args, tmp_path, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    trials = read_trials(url, "summary")
    best = max(trials, key=lambda t: t.value or 0.0)
    baseline = best.user_attrs["baseline"]
    flat = " ".join(out.split())  # the console wraps at 80 columns
    assert (
        f"the best is a baseline ({baseline}, the classic schedule at the tuned best's LR): "
        in flat
    )
    assert "none of the 2 searched trials beat it" in flat
    assert "schedules were searched on 23 optimizer steps per trial" in flat
