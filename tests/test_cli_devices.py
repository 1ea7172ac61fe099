"""`--device` is checked before anything starts: a device this machine lacks is one line and
exit code 2, and no search is created (nothing is left queued)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from lrsearch.search.devices import device_problem, probe_device

SPEC = 'name = "dev"\ntask = "digits-mlp"\n[budget]\ntrials = 1\nepochs = 1\n'


def _absent() -> list[str]:
    """Devices this machine lacks (on a CPU-only host: all three)."""
    absent = [f"cuda:{torch.cuda.device_count()}"]
    if not torch.cuda.is_available():
        absent.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        absent.append("mps")
    return absent


@pytest.mark.parametrize("device", _absent())
@pytest.mark.parametrize("command", ["search", "worker"])
def test_an_absent_device_is_one_line_and_exit_2(tmp_path: Path, device: str, command: str) -> None:
    (tmp_path / "spec.toml").write_text(SPEC)
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    args = ["spec.toml"] if command == "search" else []
    done = subprocess.run(
        [sys.executable, "-m", "lrsearch", command, *args, "--device", device, "--storage", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"lrsearch: error: --device: {device!r} is not available: ")
    assert not (tmp_path / "dev.db").exists() or not sa.inspect(sa.create_engine(url)).has_table(
        "lr_searches"
    )


def test_the_answers_name_what_is_there() -> None:
    count = torch.cuda.device_count()
    problem = device_problem(f"cuda:{count}")
    assert problem is not None
    if count:
        assert f"this machine has {count} CUDA device" in problem
        assert device_problem("cuda:0") is None and probe_device("cuda") is None
    else:
        assert "use --device cpu" in problem
    assert device_problem("cpu") is None and probe_device("auto") is None
    assert probe_device(f"cuda:{count}") == problem  # the child process says the same


def test_a_misspelt_device_is_refused_before_any_probe(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lrsearch", "worker", "--device", "gpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "lrsearch: error: --device: 'gpu' is not allowed: must be cpu, cuda, cuda:N, mps or auto\n"
    )
