"""The real console script: listing, plotting, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from lrsearch.schedules import family_names
from lrsearch.store.migrate import head_revision

LRSEARCH = shutil.which("lrsearch") or str(Path(sys.executable).parent / "lrsearch")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LRSEARCH, *args], capture_output=True, text=True, timeout=120)


def test_schedules_list_json_has_every_family_with_ranges() -> None:
    result = run("schedules", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [f["family"] for f in listed] == list(family_names())
    step = next(f for f in listed if f["family"] == "step")
    assert {p["name"]: p["allowed"] for p in step["params"]} == {
        "interval": "in (0, 1]",
        "gamma": "in (0, 1)",
    }


def test_schedules_list_table_names_every_family() -> None:
    result = run("schedules", "list")
    assert result.returncode == 0, result.stderr
    for name in family_names():
        assert name in result.stdout


@pytest.mark.parametrize("grid", [False, True])
def test_schedules_plot_writes_a_png_with_curves(tmp_path: Path, grid: bool) -> None:
    out = tmp_path / "curves.png"
    args = ["schedules", "plot", "cosine", "b=cosine", "step", "-p", "b.final_ratio=0.5"]
    args += ["-p", "step.gamma=0.5", "--steps", "300", "-o", str(out)]
    result = run(*args, *(["--grid"] if grid else []))
    assert result.returncode == 0, result.stderr
    assert "3 curves over 300 steps" in result.stdout
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 800
    colours = {tuple(px) for px in image.reshape(-1, image.shape[2])[::97].round(2)}
    assert len(colours) > 10  # lines, text and legend were drawn: not a blank canvas


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cosinee"], "family: unknown family 'cosinee'"),
        (["cosine", "-p", "cosine.final_ratio=2"], "cosine.final_ratio: 2.0 is out of range"),
        (["cosine", "-p", "cosine.bogus=1"], "cosine.bogus: unknown parameter"),
        (["cosine", "-p", "cosine.lr=fast"], "cosine.lr: 'fast' is not a number"),
        (["multistep", "-p", "multistep.milestones=0.6,0.5"], "strictly increasing"),
        (["cosine", "-p", "step.gamma=0.5"], "'step' is not plotted"),
        (["cosine", "-p", "nodot"], "--param: 'nodot' is not of the form"),
        (["cosine", "cosine"], "label 'cosine' is used twice"),
        (["cosine", "--steps", "0"], "--steps: 0 is out of range"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = run("schedules", "plot", *args, "-o", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_no_arguments_prints_help() -> None:
    result = run()
    assert "schedules" in result.stdout + result.stderr


def test_search_with_a_bad_spec_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\ntask = "digits-mlp"\n[budget]\ntrials = 0\n')
    for args, expected in [
        (["search", str(spec)], "budget.trials: must be >= 1 (got 0)"),
        (["search", str(tmp_path / "missing.toml")], "does not exist"),
        (["search", str(spec), "--workers", "0"], "--workers: 0 is out of range"),
        (["search", str(spec), "--device", "tpu"], "--device: 'tpu' is not allowed"),
    ]:
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    # A missing database is the storage's problem, not bad input: a store error, not exit 2.
    result = run("best", "nosuch", "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode not in (0, 2), result.stderr
    assert result.stderr.count("\n") == 1 and "no database file at" in result.stderr
    assert not (tmp_path / "lrsearch.db").exists()


def test_db_upgrade_creates_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = run("db", "upgrade", "--storage", url)
    assert first.returncode == 0, first.stderr
    head = head_revision()
    assert f"lrsearch schema: empty -> {head}" in first.stdout
    again = run("db", "upgrade", "--storage", url)
    assert f"lrsearch schema: {head} -> {head}" in again.stdout
