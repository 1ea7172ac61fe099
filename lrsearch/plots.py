"""Figures for people: schedule curves as PNG (matplotlib, headless).

Kept out of schedules/ (pure math, numpy only) so that importing the schedule library never pulls
in matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lrsearch.schedules import ScheduleSpec, curve


def describe(spec: ScheduleSpec) -> str:
    """A short label: family, peak LR, non-default-looking parameters and warmup."""
    parts = [f"lr={spec.lr:g}"]
    for key, value in spec.params.items():
        shown = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else value
        parts.append(f"{key}={shown:g}" if isinstance(shown, float) else f"{key}={shown}")
    if spec.warmup_fraction > 0:
        parts.append(f"warmup={spec.warmup_fraction:g}")
    return f"{spec.family} ({', '.join(parts)})"


def plot_schedules(
    labelled: Sequence[tuple[str, ScheduleSpec]],
    total_steps: int,
    path: Path,
    *,
    log_y: bool = False,
    grid: bool = False,
    title: str | None = None,
) -> Path:
    """Draw each schedule's curve over ``total_steps`` updates into one labelled PNG.

    ``grid`` draws one small panel per curve instead of overlaying them.
    """
    plt = _pyplot()
    title = title or f"Learning-rate schedules over {total_steps:,} steps"
    if grid:
        fig = _grid_figure(plt, labelled, total_steps, log_y)
    else:
        fig = _overlay_figure(plt, labelled, total_steps, log_y)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(label: str, spec: ScheduleSpec) -> str:
    return describe(spec) if label == spec.family else f"{label}: {describe(spec)}"


def _overlay_figure(
    plt: Any, labelled: Sequence[tuple[str, ScheduleSpec]], total_steps: int, log_y: bool
) -> Any:
    rows = len(labelled) if len(labelled) < 6 else (len(labelled) + 1) // 2
    fig, ax = plt.subplots(figsize=(10, 5.0 + 0.22 * rows), layout="constrained")
    ax.set_prop_cycle(color=plt.get_cmap("tab20" if len(labelled) > 10 else "tab10").colors)
    for label, spec in labelled:
        ax.plot(curve(spec, total_steps), label=_label(label, spec), linewidth=1.6)
    _style_axes(ax, total_steps, log_y)
    fig.legend(loc="outside lower center", fontsize=8, ncols=1 if len(labelled) < 6 else 2)
    return fig


def _grid_figure(
    plt: Any, labelled: Sequence[tuple[str, ScheduleSpec]], total_steps: int, log_y: bool
) -> Any:
    cols = min(4, len(labelled))
    rows = -(-len(labelled) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 2.7 * rows), layout="constrained", squeeze=False
    )
    for ax in axes.flat[len(labelled) :]:
        ax.set_visible(False)
    for ax, (label, spec) in zip(axes.flat, labelled, strict=False):
        ax.plot(curve(spec, total_steps), linewidth=1.6)
        _style_axes(ax, total_steps, log_y)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.supxlabel("optimizer update (step)")
    fig.supylabel("learning rate")
    return fig


def _style_axes(ax: Any, total_steps: int, log_y: bool) -> None:
    ax.set_xlabel("optimizer update (step)")
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0.0)
    ax.set_xlim(0, total_steps)
    ax.grid(True, alpha=0.3)


def plot_trial_curves(
    curves: Sequence[tuple[int, str, dict[int, float]]],
    best_number: int | None,
    metric: str,
    path: Path,
    *,
    title: str,
) -> Path:
    """Validation metric per epoch for every finished trial; the best one stands out."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.5), layout="constrained")
    style = {"COMPLETE": ("tab:blue", 0.45), "PRUNED": ("tab:gray", 0.35), "FAIL": ("tab:red", 0.5)}
    seen: set[str] = set()
    for number, state, values in curves:
        if not values or number == best_number:
            continue
        colour, alpha = style.get(state, ("tab:gray", 0.3))
        epochs = sorted(values)
        label = state.lower() if state not in seen else None
        seen.add(state)
        ax.plot(
            [e + 1 for e in epochs],
            [values[e] for e in epochs],
            color=colour,
            alpha=alpha,
            linewidth=1.0,
            label=label,
        )
    for number, _, values in curves:
        if number == best_number and values:
            epochs = sorted(values)
            ax.plot(
                [e + 1 for e in epochs],
                [values[e] for e in epochs],
                color="tab:orange",
                linewidth=2.5,
                label=f"best (trial {number})",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
