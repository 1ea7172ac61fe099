"""Notes that optuna-dashboard shows on a study's and a baseline trial's page (Markdown).

They say in words what the raw attributes hold: what the search is, how its parameters are
named, and which trials are the classic baselines (trials without parameters, on purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrsearch.schedules import ScheduleSpec
from lrsearch.space import TrialConfig, baseline_count
from lrsearch.space.baselines import BASELINE_FAMILIES
from lrsearch.space.lr_range import sweep_count
from lrsearch.spec import SearchSpec


def study_note(spec: SearchSpec, metric: str, direction: str) -> str:
    """The study's note, written when the search is created (so it names no trial numbers of
    what runs after the search)."""
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
    lines += ["", *READING_GUIDE]
    sweeps = sweep_count(spec)
    if sweeps:
        lines += [
            "",
            f"LR range test: trials 0 to {sweeps - 1} are LR sweeps ({spec.search.lr_range_seeds} "
            "per optimizer, user attribute `lr_sweep`; no parameters); the searched trials sample "
            "the peak LR from the range they chose (`lrsearch best`, the report).",
        ]
    if baseline_count(spec):
        lines += [
            "",
            "Baselines: after the search's own trials, the classic schedules "
            f"({', '.join(BASELINE_FAMILIES)}) run at the tuned best's optimizer, peak LR, "
            "warmup and seed (at a classic LR if no searched trial completed). They have no "
            "parameters (they are outside the searched space) "
            "and carry the user attribute `baseline`.",
        ]
    confirm = spec.search.confirm
    if confirm.top_k:
        lines += [
            "",
            f"Confirmations: after the search, its {confirm.top_k} best configs run again on "
            f"{confirm.seeds} fresh seeds each (user attributes `confirms`, the trial repeated, "
            "and `confirm_config`; no parameters). The best is the config with the best mean "
            "over its fresh seeds: `lrsearch best` and the report give it with its spread.",
        ]
    return "\n".join(lines)


READING_GUIDE = [
    "### Reading the plots",
    "- **Read**: *History*, and the *Slice* and *Hyperparameter Importance* of `family`, `lr`, "
    "`optimizer` and `warmup_fraction`: every searched trial has them.",
    "- **Do not over-read**: a `<family>.<param>` exists only in that family's trials (a "
    "conditional parameter). The importance plot leaves such parameters out (it ranks only "
    "what every trial has), which does not mean they do not matter; their slice shows one "
    "family's few trials. *Contour*, *Parallel Coordinate* and *Rank* across two families' "
    "parameters compare trials that never shared a space.",
    "- `lr` is a peak LR whose scale depends on the optimizer (SGD's 0.1 is Adam's 0.001): "
    "read its slice per optimizer, not as one trend.",
    "- Each trial's page shows its LR curve (an artifact) and a note with its family, peak LR "
    "and optimizer; baselines carry no parameters, so no parameter plot shows them.",
]


def trial_note(
    schedule: ScheduleSpec,
    optimizer: str,
    optimizer_params: Mapping[str, object],
    *,
    baseline: str | None,
    outcome: str,
    steps: int | None,
) -> str:
    """A trial's note: what it ran (family, peak LR, optimizer) and how it ended; a baseline's
    starts with its :func:`baseline_note` (``baseline``)."""
    options = ", ".join(f"{k}={v}" for k, v in optimizer_params.items())
    opt = f"{optimizer}({options})" if options else optimizer
    params = ", ".join(f"{k}={_shown(v)}" for k, v in schedule.params.items())
    lines = [
        f"**{schedule.family}**" + (f" ({params})" if params else ""),
        f"- peak LR **{schedule.lr:g}**"
        + (f", warmup {schedule.warmup_fraction:g} of the run" if schedule.warmup_fraction else ""),
        f"- optimizer **{opt}**",
        f"- {outcome}" + (f" (over {steps:,} steps)" if steps else ""),
    ]
    if baseline:  # the baseline's own note first
        lines.insert(0, baseline + "\n")
    return "\n".join(lines)


def _shown(value: object) -> str:
    if isinstance(value, tuple | list):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def baseline_note(name: str, config: TrialConfig) -> str:
    return (
        f"**Baseline: {name}** at LR {config.schedule.lr:g} with {_optimizer(config)}, the "
        "family's usual parameters, no warmup. Not sampled: it is the reference the search "
        "has to beat."
    )


def confirmation_note(confirms: int, config: TrialConfig) -> str:
    return (
        f"**Confirmation of trial {confirms}**: its config (**{config.schedule.family}** at "
        f"LR {config.schedule.lr:g} with {_optimizer(config)}) on the fresh seed "
        f"{config.seed}. Not sampled: the best is the config with the best mean over such "
        "seeds."
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
