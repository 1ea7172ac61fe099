"""Each example searched as a user runs it: ``lrsearch search`` with 2 workers, then ``lrsearch
run`` retraining the best schedule through the same script.

The shipped spec.toml is used with a shorter budget and an aggressive pruner (successive
halving: a trial that is not the best of the first few at a rung stops). The random sampler's
seed is chosen so that each worker's first trial has a peak LR that trains well and its second
one that hardly trains: that worker has then recorded a much better value at the first rung
before its second trial gets there, so the second is pruned whatever the order in which the
two workers' trials interleave.
SQLite in the fast suite; PostgreSQL too, under slow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from lrsearch.search.factory import make_sampler
from lrsearch.space import suggest
from lrsearch.spec import SearchSpec, load_spec_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TRIALS = 6

# example: (study name, metric, the spec's lines to replace: a shorter budget, a wider LR range
# and one optimizer, and the peak LRs that train well and hardly at all in that budget)
CASES = {
    "cifar_like": (
        "cifar-like",
        "val_accuracy",
        {"epochs = 4": "epochs = 3", "lr = [1e-3,": "lr = [1e-5,", '["sgd", "adamw"]': '["sgd"]'},
        (0.03, 1e-3),
    ),
    "lightning": (
        "lightning-cnn",
        "val_accuracy",
        {"epochs = 4": "epochs = 3", "lr = [1e-3,": "lr = [1e-5,", '["sgd", "adamw"]': '["sgd"]'},
        (0.03, 1e-3),
    ),
    "hf_tiny_lm": (
        "hf-tiny-lm",
        "eval_loss",
        {"steps = 60": "steps = 40", "lr = [1e-4,": "lr = [1e-6,"},
        (1e-3, 3e-5),
    ),
}


def _spec(example: str, tmp_path: Path) -> Path:
    """The example's spec.toml, shortened, pruning hard, its command's cwd made absolute."""
    _, _, shorter, lrs = CASES[example]
    text = (EXAMPLES / example / "spec.toml").read_text()
    edits = {
        **shorter,
        "trials = 12": f"trials = {TRIALS}",
        'pruner = "median"': 'pruner = "successive_halving"',
        'cwd = "examples/': f'cwd = "{ROOT}/examples/',
    }
    for old, new in edits.items():
        assert old in text or (old.startswith("cwd") and example != "cifar_like"), old
        text = text.replace(old, new)
    text = text.replace('sampler = "tpe"', 'sampler = "random"')
    path = tmp_path / "spec.toml"
    seed = _seed_where_second_trials_lag(load_spec_file_text(path, text), *lrs)
    path.write_text(text.replace("seed = 0", f"seed = {seed}"))
    return path


def load_spec_file_text(path: Path, text: str) -> SearchSpec:
    path.write_text(text)
    return load_spec_file(path)


def _seed_where_second_trials_lag(spec: SearchSpec, good: float, hopeless: float) -> int:
    """A search seed whose random sampler gives each of the 2 workers (seeded as a worker
    seeds it) a first trial at a peak LR that trains well and a second at one that hardly
    trains."""
    for seed in range(1000):
        search = spec.search.model_copy(update={"seed": seed})
        lrs = [_first_two_lrs(spec.model_copy(update={"search": search}), w) for w in (0, 1)]
        if all(first >= good and second <= hopeless for first, second in lrs):
            return seed
    raise AssertionError("no seed below 1000 gives both workers a lagging second trial")


def _first_two_lrs(spec: SearchSpec, worker: int) -> tuple[float, float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=make_sampler(spec, worker))
    lrs = []
    for _ in range(2):
        trial = study.ask()
        lrs.append(suggest(trial, spec).schedule.lr)
        study.tell(trial, 0.0)
    return lrs[0], lrs[1]


def _env() -> dict[str, str]:
    """Examples import from the repository root; ``python`` is this interpreter; one thread."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    bin_dir = os.path.dirname(sys.executable)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "OMP_NUM_THREADS": "1",
    }


def _lrsearch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lrsearch", *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("example", list(CASES))
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_the_example_searches_prunes_and_retrains_the_best(
    example: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    name, metric, _, _ = CASES[example]
    spec = _spec(example, tmp_path)

    searched = _lrsearch(tmp_path, "search", str(spec), "--workers", "2", "--threads", "1",
                         "--storage", url)  # fmt: skip
    logs = "".join(p.read_text() for p in tmp_path.glob(f"lrsearch-results/{name}/logs/*.log"))
    assert searched.returncode == 0, searched.stderr + logs
    trials = optuna.load_study(study_name=name, storage=url).trials
    states = [t.state.name for t in trials]
    assert len(trials) == TRIALS and set(states) <= {"COMPLETE", "PRUNED"}, states
    assert "PRUNED" in states and "COMPLETE" in states, states
    reports = max(len(t.intermediate_values) for t in trials)
    for trial in trials:  # a pruned trial stopped at its prune; a complete one reported all
        seen = len(trial.intermediate_values)
        assert seen == reports if trial.state.name == "COMPLETE" else 2 <= seen <= reports
    assert f"best of {name}" in searched.stdout

    retrained = _lrsearch(tmp_path, "run", str(spec), "--schedule", f"best:{name}",
                          "--storage", url)  # fmt: skip
    assert retrained.returncode == 0, retrained.stderr
    found = re.search(rf"run complete: {metric} = ([0-9.e+-]+)", retrained.stderr)
    assert found is not None, retrained.stderr
    best = optuna.load_study(study_name=name, storage=url).best_value
    assert float(found[1]) == pytest.approx(best, rel=1e-5)  # the same code, the same result
