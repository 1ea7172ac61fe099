"""A study's report as one self-contained HTML page: what the search found, and what it won.

The page holds the best schedule's curve, the top-k schedules overlaid, the validation curves
of the finished trials, the best trial of each family, the baselines (the classic
schedules at the classic LR) beside the tuned best, and, for a search that confirms its top
configs on fresh seeds, each one's mean, spread, 95% interval and chance of being the best.
Plots are inline SVG and the page loads nothing else, so it opens offline. ``lrsearch
report`` writes it; ``GET /v1/studies/{name}/report`` serves it; lrsearch.service gathers what
it shows.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

from lrsearch.plots import (
    describe,
    range_test_figure,
    schedules_figure,
    to_svg,
    top_k_figure,
    trial_curves_figure,
)
from lrsearch.service.report_data import ReportData, TrialRow, rank_key

MAX_CURVES = 400  # validation curves drawn; beyond this the plot is ink, not information


def render(data: ReportData, ranked: list[TrialRow], *, top_k: int, steps: int) -> str:
    s = data.search
    sections = [
        f"<h1>lrsearch report: {_e(s.name)}</h1>",
        _summary(data),
        _range_section(data),
        _best_section(data, ranked, steps),
        _top_k_section(ranked[:top_k], steps),
        _curves_section(data, ranked),
        _family_section(data),
        _baseline_section(data),
        _confirmation_section(data),
        f"<p class=foot>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by lrsearch.</p>",
    ]
    return _PAGE.format(title=_e(f"lrsearch report: {s.name}"), body="\n".join(sections))


def _summary(data: ReportData) -> str:
    s = data.search
    facts = [
        ("task", s.task),
        ("metric", f"{s.metric} ({s.direction})"),
        ("status", s.status),
        (
            "trials",
            f"{s.finished} of {s.trial_budget} finished: {s.n_complete} complete, "
            f"{s.n_pruned} pruned, {s.n_failed} failed",
        ),
        ("created", f"{s.created_at:%Y-%m-%d %H:%M} UTC"),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return f"<table class=facts>{rows}</table>{_verdict(data)}"


def _verdict(data: ReportData) -> str:
    """One sentence: did the search beat the classic schedules, and by how much?"""
    tuned = data.ranked(data.searched)
    base = data.ranked(data.baselines)
    if not tuned:
        return "<p class=verdict>No searched trial has completed yet.</p>"
    best = tuned[0]
    if not base:
        return (
            f"<p class=verdict>Best: trial {best.number}, {_e(describe(best.schedule))}, "
            f"{_e(data.search.metric)} = {_f(best.value)}.</p>"
        )
    top = base[0]
    gain = _gain(data, best.value, top.value)
    verb = "beats" if gain > 0 else "does not beat"
    return (
        f"<p class=verdict>The tuned best (trial {best.number}, {_e(best.schedule.family)}, "
        f"{_f(best.value)}) {verb} the best baseline ({_e(top.baseline)}, {_f(top.value)}) "
        f"by {_f(gain)} {_e(data.search.metric)}{_rel(gain, top.value)}.</p>"
    )


def _gain(data: ReportData, tuned: float | None, baseline: float | None) -> float:
    """How much better the tuned value is (positive: better, in the metric's direction)."""
    assert tuned is not None and baseline is not None
    return tuned - baseline if data.maximize else baseline - tuned


def _rel(gain: float, reference: float | None) -> str:
    if reference is None or reference == 0:
        return ""
    return f" ({100 * gain / abs(reference):+.1f}%)"


def _best_section(data: ReportData, ranked: list[TrialRow], steps: int) -> str:
    if not ranked:
        return "<h2>Best schedule</h2><p>No trial has completed yet.</p>"
    best = ranked[0]
    winner = data.confirmed_winner
    if winner is not None:
        return _confirmed_best(data, winner, ranked[0], steps)
    fig = schedules_figure(
        [("best", best.schedule)], steps, title=f"Best schedule over {steps:,} steps"
    )
    spec = html.escape(best.schedule.to_json())
    return (
        f"<h2>Best schedule</h2><p>Trial {best.number}"
        f"{' (baseline ' + _e(best.baseline) + ')' if best.baseline else ''}: "
        f"{_e(describe(best.schedule))}, optimizer {_e(best.optimizer)}, "
        f"{_e(data.search.metric)} = {_f(best.value)}.</p>{to_svg(fig)}"
        f"<p>ScheduleSpec: <code>{spec}</code></p>"
    )


def _confirmed_best(data: ReportData, winner: TrialRow, single: TrialRow, steps: int) -> str:
    assert data.confirmation is not None
    stats = data.confirmation["configs"][0]
    fig = schedules_figure(
        [("best", winner.schedule)], steps, title=f"Best schedule over {steps:,} steps"
    )
    note = (
        f" It replaces the best single trial, {single.number} ({_f(single.value)}), whose "
        "config did worse on fresh seeds."
        if single.number != winner.number
        else ""
    )
    return (
        f"<h2>Best schedule (confirmed)</h2><p>The config of trial {winner.number}: "
        f"{_e(describe(winner.schedule))}, optimizer {_e(winner.optimizer)}, "
        f"{_e(data.search.metric)} = {_stats(stats)} over {stats['n']} fresh seeds (its own "
        f"trial: {_f(winner.value)}).{note}</p>{to_svg(fig)}"
        f"<p>ScheduleSpec: <code>{html.escape(winner.schedule.to_json())}</code></p>"
    )


def _stats(stats: dict[str, Any]) -> str:
    text = _f(stats["mean"])
    if stats.get("std") is not None:
        text += f" ± {stats['std']:.2g}"
    return text


def _top_k_section(top: list[TrialRow], steps: int) -> str:
    if len(top) < 2:
        return ""
    ranked = [(f"#{r.number} ({_f(r.value)})", r.schedule, r.optimizer) for r in top]
    title = f"Top {len(top)} schedules over {steps:,} steps"
    fig = top_k_figure(ranked, steps, title=title + _by_optimizer(top))
    return f"<h2>Top {len(top)} schedules</h2>{to_svg(fig)}"


def _by_optimizer(top: list[TrialRow]) -> str:
    return ", by optimizer" if len({r.optimizer for r in top}) > 1 else ""


def _curves_section(data: ReportData, ranked: list[TrialRow]) -> str:
    finished = [r for r in data.trials if r.state in ("COMPLETE", "PRUNED", "FAIL") and r.curve]
    if not finished:
        return ""
    keep = {r.number for r in ranked[:MAX_CURVES]} | {r.number for r in data.baselines}
    drawn = [r for r in finished if r.number in keep or len(finished) <= MAX_CURVES]
    curves = [(r.number, r.state, r.curve) for r in drawn]
    fig = trial_curves_figure(
        curves,
        ranked[0].number if ranked else None,
        data.search.metric,
        title=f"Validation {data.search.metric} per epoch ({len(drawn)} of {len(finished)} trials)",
        baselines={r.number: r.baseline or "" for r in data.baselines},
    )
    return f"<h2>Validation curves</h2>{to_svg(fig)}"


def _family_section(data: ReportData) -> str:
    families: dict[str, list[TrialRow]] = {}
    for row in data.searched:
        families.setdefault(row.schedule.family, []).append(row)
    if not families:
        return ""
    summaries = [(family, rows, data.ranked(rows)) for family, rows in families.items()]
    summaries.sort(key=lambda f: rank_key(f[2][0], data.maximize) if f[2] else math.inf)
    lines = []
    for family, rows, ranked in summaries:
        cells = [family, len(rows), len(ranked)]
        if ranked:
            best = ranked[0]
            cells += [_f(best.value), best.number, _f(best.schedule.lr), best.optimizer]
        else:
            cells += ["—"] * 4
        lines.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return (
        "<h2>Best trial per family</h2><table><tr><th>family</th><th>trials</th>"
        f"<th>complete</th><th>best {_e(data.search.metric)}</th><th>trial</th><th>peak LR</th>"
        f"<th>optimizer</th></tr>{''.join(lines)}</table>"
    )


def _range_section(data: ReportData) -> str:
    """The LR range test: its sweeps' curves, the range chosen per optimizer, and why."""
    view = data.lr_range or {}
    if view.get("state") in (None, "off"):
        return ""
    if view["state"] != "done":
        return (
            f"<h2>LR range test</h2><p>Sweeping: {view.get('ended', 0)} of "
            f"{view.get('sweeps', 0)} sweeps ended; the searched trials wait for the range.</p>"
        )
    ranges = view.get("ranges") or {}
    low, high = view["space_lr"]
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{_f(r['low'])} to {_f(r['high'])}</td>"
        f"<td>{_f(r.get('divergence_lr'))}</td><td>{_f(r.get('steepest_lr'))}</td>"
        f"<td>{_e(r.get('why', ''))}</td></tr>"
        for name, r in ranges.items()
    )
    share = view.get("share")
    cost = (
        f"The sweeps ran {view.get('sweep_updates', 0):,} updates, charged as "
        f"{view.get('charge', 0)} searched trial(s)"
        + (f" ({100 * share:.1f}% of the search's updates)." if share is not None else ".")
    )
    fig = range_test_figure(
        view.get("curves", []), ranges, title="LR range test: smoothed loss per sweep"
    )
    return (
        "<h2>LR range test</h2>"
        f"<p>Before the search, short exponential LR sweeps (from {_f(low)} to {_f(high)}, "
        "the space's range) chose where the searched trials sample their peak LR. "
        f"{_e(cost)}</p>{to_svg(fig)}"
        "<table><tr><th>optimizer</th><th>peak LR range</th><th>divergence LR</th>"
        f"<th>steepest descent</th><th>why</th></tr>{rows}</table>"
    )


def _baseline_section(data: ReportData) -> str:
    baselines = sorted(data.baselines, key=lambda r: r.number)
    if not baselines:
        return "<h2>Baselines</h2><p>This search ran none (<code>baselines = false</code>).</p>"
    tuned = data.ranked(data.searched)
    best = tuned[0] if tuned else None
    rows = []
    for row in baselines:
        gain = _gain(data, best.value, row.value) if best and row.value is not None else None
        rows.append(
            f"<tr><td>{_e(row.baseline)}</td><td>{_f(row.schedule.lr)}</td>"
            f"<td>{_e(row.optimizer)}</td><td>{_e(row.state.lower())}</td>"
            f"<td>{_f(row.value)}</td><td>{_f(best.value) if best else '—'}</td>"
            f"<td class={'win' if gain and gain > 0 else 'loss'}>"
            f"{'—' if gain is None else f'{gain:+.4g}{_rel(gain, row.value)}'}</td></tr>"
        )
    tuned_label = f"tuned best (trial {best.number})" if best else "tuned best"
    return (
        "<h2>Baselines: the classic schedules vs the tuned best</h2>"
        "<p>Run after the search, outside its budget, at the tuned best's optimizer, peak LR, "
        "warmup and seed (the classic LR when no searched trial completed): only the decay "
        "differs.</p>"
        f"<table><tr><th>baseline</th><th>peak LR</th><th>optimizer</th><th>state</th>"
        f"<th>{_e(data.search.metric)}</th><th>{_e(tuned_label)}</th><th>gain</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _confirmation_section(data: ReportData) -> str:
    confirmation = data.confirmation
    if confirmation is None:
        return ""
    rows = []
    for c in confirmation["configs"]:
        interval = c["interval"]
        shown = f"[{_f(interval[0])}, {_f(interval[1])}]" if interval else "—"
        p = "—" if c["p_best"] is None else f"{c['p_best']:.2f}"
        won = c["trial_number"] == confirmation["winner"]
        rows.append(
            f"<tr><td>{c['trial_number']}{' (best)' if won else ''}</td>"
            f"<td>{_e(c['schedule']['family'])}</td><td>{_f(c['schedule']['lr'])}</td>"
            f"<td>{_e(c['optimizer'])}</td><td>{_f(c['trial_value'])}</td><td>{c['n']}</td>"
            f"<td>{_f(c['mean'])}</td><td>{_f(c['std'])}</td><td>{shown}</td><td>{p}</td>"
            f"<td>{c['failed']}</td><td>{c['queued']}</td></tr>"
        )
    state = "" if confirmation["done"] else " Some are still to run: the best is not switched yet."
    return (
        f"<h2>Confirmation: the top {confirmation['top_k']} configs on fresh seeds</h2>"
        f"<p>After the search, each config was re-run on {confirmation['seeds']} fresh seeds. "
        "The best is the config with the best mean over those seeds alone: the trial's own "
        "value was picked for being the best, so it is biased (the winner's curse). The "
        "interval is a 95% Student-t interval for the config's true mean; P(best) is the "
        "share of joint draws from each mean's Student-t posterior in which it is the best "
        f"(a fixed seed).{state}</p>"
        f"<table><tr><th>trial</th><th>family</th><th>peak LR</th><th>optimizer</th>"
        f"<th>trial's own</th><th>n</th><th>mean</th><th>std</th><th>95% interval</th>"
        f"<th>P(best)</th><th>failed</th><th>to run</th></tr>{''.join(rows)}</table>"
    )


def _e(value: Any) -> str:
    return html.escape(str(value))


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ margin-top: 1.8em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; }}
th {{ background: #f4f4f4; }} table.facts th {{ width: 8em; }}
td.win {{ color: #1a7f37; font-weight: 600; }} td.loss {{ color: #b42318; }}
.verdict {{ font-size: 1.15em; background: #f6f8fa; padding: 0.7em;
  border-left: 4px solid #1a7f37; }}
svg {{ max-width: 100%; height: auto; }} code {{ font-size: 0.85em; word-break: break-all; }}
.foot {{ color: #888; font-size: 0.85em; margin-top: 3em; }}
</style></head>
<body>
{body}
</body></html>
"""
