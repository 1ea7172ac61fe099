"""Notes that optuna-dashboard shows on a study's and a baseline trial's page (Markdown).

They say in words what the raw attributes hold: what the search is, how its parameters are
named, and which trials are the classic baselines (trials without parameters, on purpose).
"""

from __future__ import annotations

from typing import Any

from lrsearch.space import TrialConfig, baseline_configs
from lrsearch.spec import SearchSpec


def study_note(
    spec: SearchSpec,
    metric: str,
    direction: str,
    baselines: list[tuple[str, TrialConfig]] | None = None,
) -> str:
    """The study's note; ``baselines`` as the caller computed them (else computed here)."""
    budget = spec.budget
    length = (
        f"{budget.epochs} epochs"
        if budget.epochs
        else f"{budget.steps} steps"
        if budget.steps
        else "a length the training code sets"
    )
    space = spec.space
    lines = [
        f"## lrsearch: {spec.name}",
        f"{spec.runs.capitalize()} `{spec.label}`; metric `{metric}` ({direction}); "
        f"{budget.trials} trials of {length}; sampler `{spec.search.sampler}` "
        f"(seed {spec.search.seed}), pruner `{spec.search.pruner}`.",
        "",
        f"Space: families {', '.join(f'`{f}`' for f in space.families)}; peak LR "
        f"{space.lr[0]:g} to {space.lr[1]:g} (log); optimizers {', '.join(space.optimizers)}; "
        f"warmup {space.warmup[0]:g} to {space.warmup[1]:g} of the run.",
        "",
        "Parameters: `family`, `lr`, `optimizer`, `warmup_fraction` and `<family>.<param>`. "
        "Each trial's user attribute `schedule` is its ScheduleSpec; intermediate values are "
        f"the validation `{metric}` per epoch.",
    ]
    baselines = baseline_configs(spec) if baselines is None else baselines
    if baselines:
        first = baselines[0][1]
        lines += [
            "",
            f"Baselines: trials 0 to {len(baselines) - 1} are the classic schedules "
            f"({', '.join(name for name, _ in baselines)}) at LR {first.schedule.lr:g} with "
            f"{_optimizer(first)}. They have no parameters (they are outside the searched "
            "space) and carry the user attribute `baseline`.",
        ]
    return "\n".join(lines)


def baseline_note(name: str, config: TrialConfig) -> str:
    return (
        f"**Baseline: {name}** at LR {config.schedule.lr:g} with {_optimizer(config)}, the "
        "family's usual parameters, no warmup. Not sampled: it is the reference the search "
        "has to beat."
    )


def _optimizer(config: TrialConfig) -> str:
    options = ", ".join(f"{k}={v}" for k, v in config.optimizer_params.items())
    return f"{config.optimizer}({options})" if options else config.optimizer


def save(study_or_trial: Any, text: str) -> None:
    """optuna-dashboard's note, written through Optuna's storage (as system attributes);
    nothing without optuna-dashboard (the ``dashboard`` extra), which alone shows notes."""
    try:
        from optuna_dashboard import save_note
    except ImportError:
        return
    save_note(study_or_trial, text)
