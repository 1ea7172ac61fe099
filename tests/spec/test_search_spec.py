"""SearchSpec validation: every bad field is named, with the reason, in one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lrsearch.errors import InvalidInputError
from lrsearch.schedules import family_names
from lrsearch.spec import load_spec_file, parse_spec

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_defaults_come_from_the_task() -> None:
    spec = parse_spec({"name": "a", "task": "digits-mlp"})
    assert spec.resolved_metric() == ("val_accuracy", "maximize")
    assert spec.space.families == list(family_names())
    assert parse_spec({"name": "a", "task": "charlm"}).resolved_metric() == ("val_loss", "minimize")
    assert spec.budget.trials == 20 and spec.search.sampler == "tpe"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"budget": {"trials": 0}}, "budget.trials", "must be >= 1"),
        ({"budget": {"epochs": 2, "steps": 10}}, "budget", "not both"),
        ({"name": "has space"}, "name", "pattern"),
        ({"task": "mnist"}, "task", "unknown task 'mnist'"),
        ({"task": "python:nomodule"}, "task", "python:package.module:factory"),
        ({"metric": "val_f1"}, "metric", "reports val_loss, val_accuracy"),
        ({"direction": "up"}, "direction", "'minimize' or 'maximize'"),
        ({"search": {"sampler": "cmaes"}}, "search.sampler", "'tpe', 'random', 'grid' or 'qmc'"),
        ({"search": {"pruner": "asha"}}, "search.pruner", "'median'"),
        ({"space": {"families": ["cosine", "cosinus"]}}, "space.families", "unknown family"),
        ({"space": {"families": []}}, "space.families", "at least 1"),
        ({"space": {"lr": [0.1, 0.01]}}, "space.lr", "0 < low <= high"),
        ({"space": {"lr": [0, 0.01]}}, "space.lr", "0 < low <= high"),
        ({"space": {"warmup": [0, 1]}}, "space.warmup", "high < 1"),
        ({"space": {"optimizers": ["lion"]}}, "space.optimizers.0", "'sgd'"),
        (
            {"space": {"params": {"step": {"gamma": [0.1, 1.5]}}}},
            "space.params.step.gamma",
            "1.5 is out of range",
        ),
        (
            {"space": {"params": {"step": {"gama": 0.5}}}},
            "space.params.step.gama",
            "unknown parameter",
        ),
        (
            {"space": {"families": ["cosine"], "params": {"step": {"gamma": 0.5}}}},
            "space.params.step",
            "not in space.families",
        ),
        (
            {"space": {"params": {"cyclic": {"mode": ["triangular", "sawtooth"]}}}},
            "space.params.cyclic.mode",
            "one of triangular",
        ),
        (
            {"space": {"params": {"step": {"gamma": [0.2, 0.1]}}}},
            "space.params.step.gamma",
            "low > high",
        ),
        ({"unknown": 1}, "unknown", "unknown field"),
        # strict types: a string or a boolean is not a number of trials
        ({"budget": {"trials": "3"}}, "budget.trials", "valid integer"),
        ({"budget": {"trials": True}}, "budget.trials", "valid integer"),
        ({"baselines": "yes"}, "baselines", "valid boolean"),
        # task options are checked at submission, against the torch-free catalog
        ({"task_options": {"bogus": 1}}, "task_options.bogus", "unknown option"),
        ({"task_options": {"hidden": 0}}, "task_options.hidden", "at least 1"),
        ({"task_options": {"hidden": 1.5}}, "task_options.hidden", "integer"),
        ({"task_options": {"hidden": float("nan")}}, "task_options.hidden", "integer"),
        ({"task_options": {"nested": {"a": {"b": 1}}}}, "task_options.nested", "unknown option"),
        ({"task": "tabular"}, "task_options.path", "required"),
        (
            {"task": "tabular", "task_options": {"path": "x.csv", "target": "y", "kind": "ok"}},
            "task_options.kind",
            "one of auto",
        ),
        (
            {"task": "tabular", "task_options": {"path": "x", "target": "y", "val_fraction": 1}},
            "task_options.val_fraction",
            "between 0 and 1",
        ),
        ({"task": "charlm", "task_options": {"d_model": 30}}, "task_options.d_model", "divisible"),
        ({"task": "charlm", "task_options": {"chars": 100}}, "task_options.chars", "windows"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], field: str, reason: str) -> None:
    data = {"name": "a", "task": "digits-mlp", **change}
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(data)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert "\n" not in str(caught.value)


def test_missing_name_and_task(make_spec: Callable[..., dict[str, Any]]) -> None:
    for key in ("name", "task"):
        data = make_spec()
        del data[key]
        with pytest.raises(InvalidInputError, match=f"^{key}: is missing"):
            parse_spec(data)


def test_spec_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_spec_file(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        load_spec_file(broken)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_spec_is_valid(path: Path) -> None:
    spec = load_spec_file(path)
    assert spec.budget.trials >= 1


def test_the_json_form_round_trips() -> None:
    spec = parse_spec(
        {"name": "a", "task": "digits-cnn", "space": {"params": {"cosine": {"final_ratio": 0.0}}}}
    )
    assert parse_spec(spec.to_json_dict()) == spec


def test_task_options_are_checked_without_torch() -> None:
    code = (
        "import sys\n"
        "from lrsearch.errors import InvalidInputError\n"
        "from lrsearch.spec import parse_spec\n"
        "try:\n"
        "    parse_spec({'name': 'p', 'task': 'digits-mlp', 'task_options': {'bogus': 1}})\n"
        "except InvalidInputError as exc:\n"
        "    print(exc.field)\n"
        "print('torch' in sys.modules, 'optuna' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["task_options.bogus", "False", "False"]
