"""Figures for people: schedule curves and validation curves, as PNG or inline SVG.

Kept out of schedules/ (pure math, numpy only) so that importing the schedule library never pulls
in matplotlib. Figures are made with matplotlib's object API (``Figure``), never pyplot's global
state, so the HTTP service can draw reports in several threads at once.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
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


def schedules_figure(
    labelled: Sequence[tuple[str, ScheduleSpec]],
    total_steps: int,
    *,
    log_y: bool = False,
    grid: bool = False,
    title: str | None = None,
) -> Any:
    """Each schedule's curve over ``total_steps`` updates, overlaid (or one panel each)."""
    title = title or f"Learning-rate schedules over {total_steps:,} steps"
    if grid:
        fig = _grid_figure(labelled, total_steps, log_y)
    else:
        fig = _overlay_figure(labelled, total_steps, log_y)
    fig.suptitle(title)
    return fig


def plot_schedules(
    labelled: Sequence[tuple[str, ScheduleSpec]],
    total_steps: int,
    path: Path,
    *,
    log_y: bool = False,
    grid: bool = False,
    title: str | None = None,
) -> Path:
    """Draw each schedule's curve over ``total_steps`` updates into one labelled PNG."""
    fig = schedules_figure(labelled, total_steps, log_y=log_y, grid=grid, title=title)
    return save_png(fig, path)


def save_png(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def to_svg(fig: Any) -> str:
    """The figure as an SVG document (for inline use in HTML: no files, works offline)."""
    buffer = io.StringIO()
    no_metadata = {"Creator": None, "Date": None, "Format": None, "Type": None}
    fig.savefig(buffer, format="svg", metadata=no_metadata)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype


def _figure(figsize: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _colours(n: int) -> Any:
    import matplotlib

    return matplotlib.colormaps["tab20" if n > 10 else "tab10"].colors  # type: ignore[attr-defined]


def _label(label: str, spec: ScheduleSpec) -> str:
    return describe(spec) if label == spec.family else f"{label}: {describe(spec)}"


def _overlay_figure(
    labelled: Sequence[tuple[str, ScheduleSpec]], total_steps: int, log_y: bool
) -> Any:
    rows = len(labelled) if len(labelled) < 6 else (len(labelled) + 1) // 2
    fig = _figure((10, 5.0 + 0.22 * rows))
    ax = fig.subplots()
    ax.set_prop_cycle(color=_colours(len(labelled)))
    for label, spec in labelled:
        ax.plot(curve(spec, total_steps), label=_label(label, spec), linewidth=1.6)
    _style_axes(ax, total_steps, log_y)
    fig.legend(loc="outside lower center", fontsize=8, ncols=1 if len(labelled) < 6 else 2)
    return fig


def _grid_figure(
    labelled: Sequence[tuple[str, ScheduleSpec]], total_steps: int, log_y: bool
) -> Any:
    cols = min(4, len(labelled))
    rows = -(-len(labelled) // cols)
    fig = _figure((3.6 * cols, 2.7 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
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


def trial_curves_figure(
    curves: Sequence[tuple[int, str, dict[int, float]]],
    best_number: int | None,
    metric: str,
    *,
    title: str,
    baselines: Mapping[int, str] | None = None,
) -> Any:
    """Validation metric per epoch for every finished trial; the best one stands out.

    ``baselines`` (trial number -> name) are drawn dashed, so the search's trials and the
    classic schedules can be told apart.
    """
    baselines = baselines or {}
    fig = _figure((10, 5.5))
    ax = fig.subplots()
    style = {"COMPLETE": ("tab:blue", 0.45), "PRUNED": ("tab:gray", 0.35), "FAIL": ("tab:red", 0.5)}
    seen: set[str] = set()
    for number, state, values in curves:
        if not values or number == best_number:
            continue
        kind = "baseline" if number in baselines else state
        colour, alpha = (
            ("tab:green", 0.8) if number in baselines else style.get(state, ("tab:gray", 0.3))
        )
        label = kind.lower() if kind not in seen else None
        seen.add(kind)
        epochs = sorted(values)
        ax.plot(
            [e + 1 for e in epochs],
            [values[e] for e in epochs],
            color=colour,
            alpha=alpha,
            linewidth=1.0,
            linestyle="--" if number in baselines else "-",
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
    if seen or best_number is not None:
        ax.legend(loc="best")
    return fig


def plot_trial_curves(
    curves: Sequence[tuple[int, str, dict[int, float]]],
    best_number: int | None,
    metric: str,
    path: Path,
    *,
    title: str,
) -> Path:
    """Validation metric per epoch for every finished trial, as a PNG."""
    return save_png(trial_curves_figure(curves, best_number, metric, title=title), path)


def top_k_figure(
    ranked: Sequence[tuple[str, ScheduleSpec, str]], total_steps: int, *, title: str
) -> Any:
    """The top schedules ``(label, schedule, optimizer)``, one panel per optimizer.

    Peak LRs of different optimizers are not comparable (SGD's 0.1 is Adam's 1e-3), so each
    optimizer gets its own axis; the colours follow the rank across panels.
    """
    optimizers = list(dict.fromkeys(optimizer for _, _, optimizer in ranked))
    fig = _figure((5.2 * len(optimizers) if len(optimizers) > 1 else 10, 5.5))
    axes = fig.subplots(1, len(optimizers), squeeze=False)[0]
    colours = _colours(len(ranked))
    for ax, optimizer in zip(axes, optimizers, strict=True):
        for rank, (label, spec, used) in enumerate(ranked):
            if used == optimizer:
                values = curve(spec, total_steps)
                ax.plot(values, color=colours[rank], linewidth=1.6, label=_label(label, spec))
        _style_axes(ax, total_steps, log_y=False)
        ax.set_title(optimizer if len(optimizers) > 1 else "", fontsize=10)
        ax.legend(loc="upper right", fontsize=7)
    fig.suptitle(title)
    return fig


def trial_figure(
    schedule: ScheduleSpec,
    total_steps: int,
    epochs: Sequence[Mapping[str, Any]],
    metric: str,
    *,
    title: str,
) -> Any:
    """One trial: its schedule's LR over ``total_steps`` (with the LR each report saw as dots)
    above its validation ``metric`` at each report, on the same step axis."""
    fig = _figure((9, 6.5))
    lr_ax, metric_ax = fig.subplots(2, 1, sharex=True)
    lr_ax.plot(curve(schedule, total_steps), linewidth=1.6, label=describe(schedule))
    seen = [(row["step"], row["lr"]) for row in epochs if row.get("lr") is not None]
    if seen:
        lr_ax.plot(*zip(*seen, strict=True), "o", markersize=4, label="LR at each report")
    _style_axes(lr_ax, total_steps, log_y=False)
    lr_ax.set_xlabel("")
    lr_ax.legend(loc="upper right", fontsize=8)
    scored = [(row["step"], row["value"]) for row in epochs if row.get("value") is not None]
    if scored:
        metric_ax.plot(*zip(*scored, strict=True), "o-", color="tab:orange", linewidth=1.6)
    else:
        metric_ax.text(0.5, 0.5, "no validation result", ha="center", transform=metric_ax.transAxes)
    metric_ax.set_xlabel("optimizer update (step)")
    metric_ax.set_ylabel(metric)
    metric_ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return fig


def range_test_figure(
    curves: Sequence[Mapping[str, Any]],
    ranges: Mapping[str, Mapping[str, Any]],
    *,
    title: str,
) -> Any:
    """The LR range test: each sweep's smoothed loss against its LR (log axis), one colour per
    optimizer, its chosen range shaded and each sweep's divergence LR marked."""
    optimizers = sorted({str(c["optimizer"]) for c in curves} | set(ranges))
    colours = dict(zip(optimizers, _colours(len(optimizers)), strict=False))
    fig = _figure((8.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for name, chosen in ranges.items():
        ax.axvspan(chosen["low"], chosen["high"], color=colours[name], alpha=0.12)
    labelled: set[str] = set()
    for sweep in curves:
        if not sweep.get("lr"):
            continue
        name = str(sweep["optimizer"])
        label = None if name in labelled else f"{name} (range shaded)"
        labelled.add(name)
        ax.plot(sweep["lr"], sweep["smoothed"], color=colours[name], lw=1.2, label=label)
        if sweep.get("divergence_lr"):
            ax.axvline(sweep["divergence_lr"], color=colours[name], ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (sweep)")
    ax.set_ylabel("smoothed loss")
    ax.set_title(title, fontsize=10)
    if labelled:
        ax.legend(fontsize=8)
    return fig
