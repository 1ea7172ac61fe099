"""The quality benchmark end to end, tiny: ``python -m benchmarks.quality --smoke`` as a real
process (tests never import benchmarks/), then the invariants of what it wrote."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TASKS = {"charlm", "noisy-digits", "sort-transformer"}
ARMS = {
    "defaults",
    "schedule-pruner",
    "anneal-pruner",
    "confirm",
    "no-baselines",
    "no-pruner",
    "random",
    "lr-range",
    "wide",
    "plain-optuna",
}
WIDE_LR = [1e-6, 1.0]  # benchmarks.quality.plan.WIDE_LR (tests never import benchmarks/)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("quality")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "quality.json").read_text("utf-8"))


@pytest.mark.slow
def test_writes_both_files_with_the_machine(smoke: tuple[Path, dict[str, Any]]) -> None:
    out, data = smoke
    text = (out / "quality.md").read_text("utf-8")
    assert "Mean regret per task" in text and "Spearman" in text
    meta = data["meta"]
    assert meta["mode"] == "smoke"
    assert meta["cpu_count"] >= 1 and meta["wall_s"] > 0
    assert meta["torch_version"] and meta["optuna_version"] and meta["git_commit"]
    assert math.isfinite(meta["load_average"]["mean"])
    assert meta["device"] == "cpu" and meta["gpu"] is None
    assert not (out / "quality.partial.json").exists()  # only a run cut short keeps it


@pytest.mark.slow
def test_every_arm_has_a_row_per_task(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, data = smoke
    summary = data["summary"]
    assert set(summary["tasks"]) == TASKS
    for task in summary["tasks"].values():
        assert set(task["arms"]) == ARMS
    picked = {(p["task"], p["arm"]) for p in summary["picks"]}
    assert picked == {(t, a) for t in TASKS for a in ARMS}


@pytest.mark.slow
def test_regrets_are_non_negative_and_scores_finite(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, data = smoke
    for task in data["summary"]["tasks"].values():
        assert math.isfinite(task["best_true"])
        for arm in task["arms"].values():
            assert arm["regret"]["min"] >= 0.0
            assert math.isfinite(arm["true"]["mean"])
        # some pick reaches the best true score: the regret is measured against a real pick
        assert min(arm["regret"]["min"] for arm in task["arms"].values()) == 0.0
    tasks = data["summary"]["tasks"]
    for pick in data["summary"]["picks"]:
        if pick["arm"] == "lr-range" and pick["picked_trial"] is None:
            # The smoke's budget (a few dozen updates) may hold no trial after the sweeps.
            task = tasks[pick["task"]]
            trial = task["budget_steps"] // data["setup"]["nominal_trials"]
            (row,) = task["lr_range"]["seeds"]
            assert row["sweep_steps"] + trial > task["budget_steps"], pick
            continue
        assert pick["true_scores"], pick
        assert all(math.isfinite(score) for score in pick["true_scores"])


@pytest.mark.slow
def test_every_arm_stays_within_the_same_step_budget(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, data = smoke
    budgets = {name: task["budget_steps"] for name, task in data["summary"]["tasks"].items()}
    for pick in data["summary"]["picks"]:
        assert 0 < pick["steps_in_budget"] <= budgets[pick["task"]]
    for search in data["searches"]:
        assert search["budget_steps"] == budgets[search["task"]]
        # the search ran at least up to its budget (or its trial cap)
        assert sum(t["steps"] for t in search["trials"]) > 0


def _quality(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.quality ARGS`` from the repository, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_gpu_run_without_a_gpu_is_refused_in_one_line() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    done = _quality("--smoke", "--device", "cuda", timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "quality: --device: cuda is not available on this machine"


@pytest.mark.slow
def test_the_confirm_arm_scores_its_confirmation(smoke: tuple[Path, dict[str, Any]]) -> None:
    out, data = smoke
    assert "## Confirmation: the top configs on fresh seeds" in (out / "quality.md").read_text()
    runs = {(c["task"], c["seed"]): c for c in data["confirmations"]}
    assert set(runs) == {(t, 0) for t in TASKS}
    designs = data["summary"]["confirmation"]
    assert set(designs) == {"3x3", "3x2", "2x3", "2x2", "1x3"}
    for design in designs.values():
        assert design["all"]["searches"] == 3
        assert 0.0 <= design["all"]["coverage"] <= 1.0
        for row in design["searches"]:
            c = runs[row["task"], row["seed"]]
            assert len(row["configs"]) == min(design["top_k"], len(c["leaders"]))
            assert row["single_trial"] == c["leaders"][0]  # the best single trial
            assert row["regret_single"] >= 0.0 and row["regret_confirmed"] >= 0.0
            # the confirmations' updates over the budget: k x seeds full-length trials
            budget = data["summary"]["tasks"][row["task"]]["budget_steps"]
            search = next(
                s for s in data["searches"] if (s["task"], s["arm"]) == (row["task"], "confirm")
            )
            full = max(t["steps"] for t in search["trials"])
            seeds = design["seeds"]
            assert row["extra_compute"] == pytest.approx(
                full * seeds * len(row["configs"]) / budget
            )
            for config in row["configs"]:
                values = [v for v in c["values"][str(config["trial_number"])][:seeds] if v]
                assert config["n"] == len(values)
                if config["interval"] is not None:
                    low, high = config["interval"]
                    assert low <= config["mean"] <= high
    # The confirm arm's pick is the winner of its 3x3 confirmation.
    for row in designs["3x3"]["searches"]:
        pick = next(
            p
            for p in data["summary"]["picks"]
            if (p["task"], p["arm"], p["seed"]) == (row["task"], "confirm", row["seed"])
        )
        assert pick["picked_trial"] == row["confirmed_trial"]


@pytest.mark.slow
def test_the_lr_range_arm_records_its_figures(smoke: tuple[Path, dict[str, Any]]) -> None:
    out, data = smoke
    for task in data["summary"]["tasks"].values():
        rows = task["lr_range"]["seeds"]
        assert [r["seed"] for r in rows] == [0]
        for row in rows:
            # the sweeps' updates are counted in the arm's step budget
            assert row["sweep_share"] == row["sweep_steps"] / task["budget_steps"]
            if row["state"] == "done":
                assert row["holds_defaults_best"] in (True, False)
                assert all(cut >= 0 for cut in row["decades_cut"].values())
            else:  # the smoke budget ended while sweeping: nothing to judge
                assert row["holds_defaults_best"] is None
    assert "## LR range test (the lr-range arm)" in (out / "quality.md").read_text("utf-8")


@pytest.mark.slow
def test_the_wide_arm_is_the_defaults_over_the_wide_range(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    out, data = smoke
    assert data["setup"]["arms"]["wide"]["wide_lr"] is True
    assert data["setup"]["arms"]["lr-range"]["wide_lr"] is True
    assert data["setup"]["arms"]["defaults"]["wide_lr"] is False
    specs = {(s["task"], s["arm"]): s["spec"] for s in data["searches"]}
    for task in TASKS:
        space = data["setup"]["tasks"][task]["space"]
        defaults, wide, ranged = (specs[task, a] for a in ("defaults", "wide", "lr-range"))
        assert defaults["space"] == space
        assert wide["space"] == {**space, "lr": WIDE_LR}
        assert ranged["space"] == {**space, "lr": WIDE_LR}
        # the wide arm is the defaults arm but for space.lr: no range test, same search
        assert "lr_range" not in wide["search"]
        strip = ("name", "space")
        assert {k: v for k, v in wide.items() if k not in strip} == {
            k: v for k, v in defaults.items() if k not in strip
        }
        assert ranged["search"]["lr_range"] == "auto"
        assert ranged["search"]["lr_range_steps"] == data["setup"]["lr_range_steps"] == 20
        assert specs[task, "plain-optuna"] is None  # a plain Optuna script has no spec

    # The LR range section: the lr-range pick against the wide arm's, per seed, and the means.
    true = {(p["task"], p["arm"], p["seed"]): p["true_mean"] for p in data["summary"]["picks"]}
    for name, task in data["summary"]["tasks"].items():
        info = task["lr_range"]
        for row in info["seeds"]:
            seed = row["seed"]
            assert row["regret_vs_wide"] == pytest.approx(
                true[name, "lr-range", seed] - true[name, "wide", seed]
            )
            assert row["regret_vs_defaults"] == pytest.approx(
                true[name, "lr-range", seed] - true[name, "defaults", seed]
            )
        means = info["mean_regret"]
        assert set(means) == {"lr-range", "wide", "defaults"}
        for arm, mean in means.items():
            assert mean["seeds"] == 1
            assert mean["mean"] == pytest.approx(task["arms"][arm]["regret"]["mean"])
        assert sum(info["vs_wide"].values()) == 1
    text = (out / "quality.md").read_text("utf-8")
    assert "regret vs wide |" in text
    assert "Mean regret over the lr-range arm's seeds" in text


@pytest.mark.slow
def test_the_oracle_among_the_leaders_bounds_both_picks(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    out, data = smoke
    confirmations = {(c["task"], c["seed"]): c for c in data["confirmations"]}
    for design in data["summary"]["confirmation"].values():
        for row in design["searches"]:
            c = confirmations[row["task"], row["seed"]]
            leaders = c["leaders"][: design["top_k"]]
            assert row["oracle_trial"] in leaders
            # the best true mean among the leaders
            truth = {n: sum(c["truth"][str(n)]) / len(c["truth"][str(n)]) for n in leaders}
            assert truth[row["oracle_trial"]] == min(truth.values())  # val_loss: minimize
            assert 0.0 <= row["regret_oracle"] <= row["regret_single"]
            assert row["regret_oracle"] <= row["regret_confirmed"]
        for a in [design["all"], *design["tasks"].values()]:
            assert a["regret_oracle"] <= a["regret_single"]
            assert a["regret_oracle"] <= a["regret_confirmed"]
            if a["regret_single"]:
                assert a["oracle_ratio"] == pytest.approx(a["regret_oracle"] / a["regret_single"])
                assert a["oracle_ratio"] <= a["regret_ratio"]
                assert a["oracle_ratio"] <= 1.0
            else:
                assert a["oracle_ratio"] is None
    text = (out / "quality.md").read_text("utf-8")
    assert "| regret, best of the k in truth | ratio at best |" in text
    assert "no such rule" in text


@pytest.mark.slow
def test_a_recorded_run_renders_again(tmp_path: Path) -> None:
    """--render recomputes the summary of a run recorded before the newer figures (no wide
    arm, no spec per search): the oracle figures are computed from its raw numbers."""
    recorded = REPO_ROOT / "benchmarks" / "results" / "quality-cpu.json"
    done = _quality("--render", str(recorded), "--out", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "quality.json").read_text("utf-8"))
    text = (tmp_path / "quality.md").read_text("utf-8")
    for design in data["summary"]["confirmation"].values():
        for a in [design["all"], *design["tasks"].values()]:
            assert a["regret_oracle"] <= min(a["regret_single"], a["regret_confirmed"])
            assert a["oracle_ratio"] <= 1.0
        if design["top_k"] == 1:  # one leader: the oracle is the single trial
            assert design["all"]["oracle_ratio"] == 1.0
    assert "| ratio at best |" in text
    assert ("regret vs wide |" in text) == ("wide" in data["setup"]["arms"])
