"""The best trial exported: JSON that says whether it is a baseline and its length, and PyTorch
code that builds the same optimizer and schedule lrsearch trained with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from lrsearch import service
from lrsearch.config import Settings
from lrsearch.schedules import ScheduleSpec, lr_at
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.service.export import TORCH_OPTIMIZERS, optimizer_code
from lrsearch.space.baselines import BASELINE_FAMILIES
from lrsearch.spec import parse_spec
from lrsearch.trial.torch_ops import OPTIMIZERS

SpecFactory = Callable[..., dict[str, Any]]


def test_every_optimizer_of_a_spec_exports_as_the_class_lrsearch_trains_with() -> None:
    assert {name: cls.__name__ for name, cls in OPTIMIZERS.items()} == TORCH_OPTIMIZERS
    for name, cls in OPTIMIZERS.items():
        namespace: dict[str, Any] = {"torch": torch, "PEAK_LR": 0.02}
        exec(optimizer_code(name, {"weight_decay": 0.01}), namespace)
        built = namespace["make_optimizer"]([torch.nn.Parameter(torch.zeros(2))])
        assert type(built) is cls
        assert built.param_groups[0]["lr"] == 0.02
        assert built.param_groups[0]["weight_decay"] == 0.01


def _run(url: str, data: dict[str, Any]) -> service.Backend:
    spec = parse_spec(data)
    prepare_search(url, spec)
    run_worker(url, spec.name, threads=1)
    return service.Backend.from_settings(Settings(storage_url=url))


@pytest.mark.slow
def test_a_baseline_best_says_so(sqlite_url: str, make_spec: SpecFactory) -> None:
    # The one searched trial, cosine at LR 100, barely learns; baselines run after it at the
    # same LR, and one that decays faster does better.
    data = make_spec(budget={"trials": 1, "epochs": 1}, baselines=True)
    data["space"] = {**make_spec()["space"], "lr": [100.0, 100.0]}
    with _run(sqlite_url, data) as backend:
        best = service.best_config(backend, "t")
        code = service.best_pytorch(backend, "t")
    name = best["baseline"]
    assert name in BASELINE_FAMILIES and best["steps"] > 0
    assert best["schedule"]["lr"] == 100.0  # the tuned best's LR
    line = service.best_summary_line(best)
    assert f"the {name!r} baseline: no searched schedule beat it" in line
    assert f"searched on {best['steps']:,} optimizer updates" in line
    assert f"the {name!r} baseline" in code.split("import torch")[0]
    # Each baseline is listed beside the tuned best (trial 0); the winner's gain is negative.
    assert sorted(b["name"] for b in best["baselines"]) == sorted(BASELINE_FAMILIES)
    assert all(b["tuned_trial"] == 0 for b in best["baselines"])
    won = next(b for b in best["baselines"] if b["name"] == name)
    assert won["gain"] is not None and won["gain"] < 0


@pytest.mark.slow
def test_the_pytorch_export_builds_the_searched_optimizer_and_keeps_group_ratios(
    sqlite_url: str, make_spec: SpecFactory
) -> None:
    data = make_spec(
        budget={"trials": 2, "epochs": 1},
        space={
            "families": ["cosine"],
            "lr": [0.01, 0.3],
            "optimizers": ["adamw"],
            "warmup": [0.05, 0.2],
        },
    )
    with _run(sqlite_url, data) as backend:
        best = service.best_config(backend, "t")
        code = service.best_pytorch(backend, "t", steps=500)
    assert best["baseline"] is None
    assert "searched on" in code.split("import torch")[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "best.py", "exec"), namespace)
    schedule = ScheduleSpec.from_dict(best["schedule"], complete=True)
    assert namespace["TOTAL_STEPS"] == 500 and namespace["PEAK_LR"] == schedule.lr

    head, body = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
    groups = [{"params": head.parameters(), "lr": 1.0}, {"params": body.parameters(), "lr": 0.1}]
    optimizer = namespace["make_optimizer"](groups)
    assert type(optimizer) is torch.optim.AdamW
    for key, value in best["optimizer_params"].items():
        assert optimizer.param_groups[0][key] == value
    scheduler = namespace["make_scheduler"](optimizer, 500)
    for step in range(0, 500, 97):
        expected = lr_at(schedule, step, 500)
        top, low = (group["lr"] for group in optimizer.param_groups)
        assert top == pytest.approx(expected, rel=1e-9)
        assert low == pytest.approx(expected * 0.1, rel=1e-9)  # the group's ratio is kept
        for _ in range(97):
            optimizer.step()
            scheduler.step()
