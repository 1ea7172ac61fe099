"""quality.md: the summary of a run as Markdown tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.quality.plan import (
    ARMS,
    DEFAULTS_ARM,
    LR_RANGE_ARM,
    PLAIN_ARM,
    WIDE_ARM,
    WIDE_LR,
    BenchTask,
)


def _seeds(setup: dict[str, Any]) -> str:
    """How many search seeds, and which where they do not start at 0 (older runs: from 0)."""
    first = int(setup.get("first_seed", 0))
    count = int(setup["seeds"])
    return str(count) if first == 0 else f"{count} ({first} .. {first + count - 1})"


def _f(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _wide_lr() -> str:
    """``[1e-6, 1]``: the wide LR range as a user writes it."""
    return "[" + ", ".join(f"{x:g}".replace("e-0", "e-") for x in WIDE_LR) + "]"


def markdown(
    payload: Mapping[str, Any], tasks: Mapping[str, BenchTask], arms: Sequence[str]
) -> str:
    meta, summary, setup = payload["meta"], payload["summary"], payload["setup"]
    load = meta["load_average"]
    lines = [
        f"# lrsearch search quality ({meta['mode']})",
        "",
        f"{meta['date']} · commit {meta['git_commit']} · {meta['cpu_count']} CPUs · "
        f"torch {meta['torch_version']} · optuna {meta['optuna_version']} · "
        f"Python {meta['python_version']} · {meta['jobs']} processes, 1 torch thread each",
        "",
        f"**Wall time {meta['wall_s'] / 60:.1f} min** (searches {meta['search_wall_s'] / 60:.1f} "
        f"min, retraining {meta['retrain_wall_s'] / 60:.1f} min). 1-minute load average during "
        f"the run: mean {_f(load['mean'], 2)}, max {_f(load['max'], 2)} "
        f"(at start {_f(load['start'], 2)}; this run's own processes account for about "
        f"{meta['jobs']}).",
        "",
    ]
    if meta["mode"] == "smoke":
        lines += ["**Smoke run: tiny sizes, the scores mean nothing.**", ""]
    lines += _setup(setup, tasks)
    lines += _headline(summary, tasks, arms)
    lines += _confirmation(summary.get("confirmation"), tasks)
    for name in tasks:
        lines += _task_section(name, summary["tasks"][name], tasks[name], arms)
    lines += _lr_range_section(summary["tasks"])
    lines += _picks(summary["picks"])
    return "\n".join(lines) + "\n"


def _lr_range_section(per_task: Mapping[str, Any]) -> list[str]:
    """The LR range test's figures (the lr-range arm), per task and seed; against the wide
    arm's picks too when it ran (the same starting range, no range test)."""
    found = {name: t["lr_range"] for name, t in per_task.items() if t.get("lr_range")}
    if not found:
        return []
    wide = any(
        row.get("regret_vs_wide") is not None for info in found.values() for row in info["seeds"]
    )
    wide_head, wide_rule = (f" regret vs {WIDE_ARM} |", "---|") if wide else ("", "")
    lines = [
        "## LR range test (the lr-range arm)",
        "",
        "Targets (issue 13): the range holds the peak LR the defaults arm picked on every task "
        f"and seed, cuts at least 2 decades from {_wide_lr()}, and its sweeps cost at "
        "most 3 % of the step budget; regret equal or lower than a search without the range "
        f"test. That search is the {WIDE_ARM} arm (lrsearch defaults over the same "
        f"{_wide_lr()}, no range test); the {DEFAULTS_ARM} arm searches each task's "
        "hand-narrowed range, which a user without the range test does not have. Regret vs an "
        "arm: the lr-range pick's true score minus that arm's pick's (same task and seed; "
        "negative: the lr-range pick is better).",
        "",
        "| task | seed | range per optimizer | decades cut | sweep steps | share of budget | "
        "holds the defaults' pick | regret vs defaults |" + wide_head,
        "|---|---|---|---|---|---|---|---|" + wide_rule,
    ]
    for name, info in found.items():
        for row in info["seeds"]:
            ranges = ", ".join(f"{k} [{lo:.2g}, {hi:.2g}]" for k, (lo, hi) in row["ranges"].items())
            cut = ", ".join(f"{k} {v:.1f}" for k, v in row["decades_cut"].items())
            held = {True: "yes", False: "**no**", None: "n/a"}[row["holds_defaults_best"]]
            lines.append(
                f"| {name} | {row['seed']} | {ranges} | {cut} | {row['sweep_steps']} | "
                f"{100 * row['sweep_share']:.1f} % | {held} | {_f(row['regret_vs_defaults'])} |"
                + (f" {_f(row.get('regret_vs_wide'))} |" if wide else "")
            )
    if wide:
        lines += ["", "Mean regret over the lr-range arm's seeds (lower is better):", ""]
        for name, info in found.items():
            means = info.get("mean_regret") or {}
            cells = [
                f"{arm} {_f((means.get(arm) or {}).get('mean'))}"
                for arm in (LR_RANGE_ARM, WIDE_ARM, DEFAULTS_ARM)
            ]
            tally = info.get("vs_wide")
            versus = (
                f" (lr-range vs {WIDE_ARM} per seed: {tally['wins']} wins, {tally['ties']} "
                f"ties, {tally['losses']} losses)"
                if tally
                else ""
            )
            lines.append(f"- {name}: " + " vs ".join(cells) + versus)
    return [*lines, ""]


def _setup(setup: Mapping[str, Any], tasks: Mapping[str, BenchTask]) -> list[str]:
    wide = ", ".join(arm.name for arm in ARMS.values() if arm.wide_lr)
    lines = [
        "## Setup",
        "",
        f"Every arm of a task gets the same budget of optimizer updates: "
        f"{setup['nominal_trials']} full-length trials' worth; pruned and failed trials count "
        f"with the updates they trained. Search seeds: {_seeds(setup)}; each pick retrained "
        f"at full length on {setup['retrain_seeds']} fresh seeds, whose mean is its true "
        "score. Regret: true score minus the best true score any pick of that task reached.",
        "",
        f"| task | metric | epochs x updates | budget (updates) | space (lrsearch arms; "
        f"{wide}: lr {_wide_lr()}) | "
        "plain Optuna trains | why the schedule matters |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, bench in tasks.items():
        info = setup["tasks"][name]
        lines.append(
            f"| {name} | {bench.metric} ({bench.direction}) | {bench.epochs} x "
            f"{info['steps_per_epoch']} | {info['budget_steps']} | `{bench.space}` | "
            f"{bench.plain_optimizer}, cosine, lr in {list(bench.lr_range)} | {bench.why} |"
        )
    lines += ["", "| arm | what |", "|---|---|"]
    lines += [f"| {arm.name} | {arm.what} |" for arm in ARMS.values()]
    return [*lines, ""]


def _headline(
    summary: Mapping[str, Any], tasks: Mapping[str, Any], arms: Sequence[str]
) -> list[str]:
    lines = [
        "## Mean regret per task (lower is better; ± std over seeds)",
        "",
        "| arm | " + " | ".join(tasks) + " | seeds won |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for arm in arms:
        cells, won = [], 0
        for name in tasks:
            row = summary["tasks"][name]["arms"][arm]
            cells.append(f"{_f(row['regret']['mean'])} ± {_f(row['regret']['std'])}")
            won += row["seeds_won"]
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {won} |")
    duel = summary["defaults_vs_plain"]
    if duel is not None:
        lines += [
            "",
            f"**lrsearch defaults beat plain Optuna on {duel['wins']} of {duel['pairs']} task x "
            f"seed pairs ({duel['fraction']:.0%})**; ties {duel['ties']}, losses "
            f"{duel['losses']}.",
        ]
    lines += ["", "Spearman (value after a third of the epochs vs final value, pruner-none arm):"]
    for name in tasks:
        ef = summary["tasks"][name]["early_vs_final"]
        lines.append(
            f"- {name}: pooled {_f(ef['pooled'], 3)} over {ef['pooled_trials']} trials "
            f"(epoch {ef['early_epoch']} of {tasks[name].epochs}); mean over seeds "
            f"{_f(ef['mean'], 3)}; pairs of trials whose order flips: "
            f"{_f(ef['discordant_pairs'], 3)}"
        )
        score = ef.get("schedule_score")
        if score is not None:
            lines.append(
                f"  - the schedule-aware pruner's score at that epoch (share of trials with as "
                f"much decay left that were better) vs final value: pooled "
                f"{_f(score['pooled'], 3)} over {score['pooled_trials']} trials; mean over "
                f"seeds {_f(score['mean'], 3)}"
            )
    return [*lines, ""]


def _confirmation(found: Mapping[str, Any] | None, tasks: Mapping[str, BenchTask]) -> list[str]:
    """The confirm arm's figures: each design's regret against the best single trial of the same
    search, its extra compute, and how often its 95% intervals cover the true means."""
    if not found:
        return []
    lines = [
        "## Confirmation: the top configs on fresh seeds vs the best single trial",
        "",
        "From the same searches (the confirm arm's): regret of the best single trial and of the "
        "best confirmed mean, both against true means from the truth seeds; extra compute = "
        "the confirmations' updates over the search budget; coverage = share of 95% intervals "
        "(Student t, fresh seeds only) that hold the config's true mean. Targets (issue 13): "
        "ratio <= 0.5 at <= 20% extra compute, coverage >= 90%.",
        "",
        "| design (top_k x seeds) | task | searches | regret single | regret confirmed | "
        "ratio | pick changed | extra compute | intervals | coverage | "
        "regret, best of the k in truth | ratio at best |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, design in found.items():
        rows = [("all", design["all"])] + [(t, design["tasks"][t]) for t in tasks]
        for task, a in rows:
            extra = "n/a" if a["extra_compute"] is None else f"{a['extra_compute']:.0%}"
            coverage = "n/a" if a["coverage"] is None else f"{a['coverage']:.0%}"
            lines.append(
                f"| {name} | {task} | {a['searches']} | {_f(a['regret_single'])} | "
                f"{_f(a['regret_confirmed'])} | {_f(a['regret_ratio'], 2)} | "
                f"{a['changed_pick']} | {extra} | {a['intervals']} | {coverage} | "
                f"{_f(a.get('regret_oracle'))} | {_f(a.get('oracle_ratio'), 2)} |"
            )
    lines += [
        "",
        "Regret, best of the k in truth: the regret of the top-k leader with the best true mean "
        "(from the truth seeds): the ceiling of any rule that picks among the search's top k, "
        "so no such rule, however many confirmation seeds it spends, can go below the ratio "
        "at best.",
    ]
    return [*lines, ""]


def _task_section(
    name: str, t: Mapping[str, Any], bench: BenchTask, arms: Sequence[str]
) -> list[str]:
    lines = [
        f"## {name}",
        "",
        f"Best true {t['metric']}: {_f(t['best_true'])}. Budget {t['budget_steps']} updates "
        f"per search ({t['steps_per_epoch']} per epoch).",
        "",
        "| arm | regret mean | std | min | max | true score mean | updates used (mean) | "
        "updates saved by pruning (probe updates, share of saved) | "
        "trials (pruned, failed) | picked a baseline | search wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        r = t["arms"][arm]
        g = r["regret"]
        lines.append(
            f"| {arm} | {_f(g['mean'])} | {_f(g['std'])} | {_f(g['min'])} | {_f(g['max'])} | "
            f"{_f(r['true']['mean'])} | {_f(r['steps']['mean'], 0)} | {_saved(r)} | "
            f"{_f(r['trials']['mean'], 1)} ({_f(r['pruned']['mean'], 1)}, "
            f"{_f(r['failed']['mean'], 1)}) | {r['picked_baseline']} | "
            f"{_f(r['wall_s']['mean'], 1)} |"
        )
    lines += [
        "",
        "| seed | " + " | ".join(arms) + " | winner |",
        "|---|" + "---|" * (len(arms) + 1),
    ]
    for row in t["seeds"]:
        cells = [_f(row["scores"].get(arm)) for arm in arms]
        lines.append(
            f"| {row['seed']} | " + " | ".join(cells) + f" | {', '.join(row['winners'])} |"
        )
    d, sep = t["defaults_vs_plain"], t["separation"]
    lines += [
        "",
        f"Separation: the {sep['searches']} picks ({sep['distinct_picks']} distinct configs) "
        f"span {_f(sep['true_score_range'])} in true score (std {_f(sep['true_score_std'])}); "
        f"one config's std over fresh seeds is {_f(sep['retrain_seed_std'])}; "
        f"{sep['picked_first_trial']} searches picked their first trial.",
        "",
        f"{DEFAULTS_ARM} vs {PLAIN_ARM}: {d['wins']} wins, {d['ties']} ties, {d['losses']} losses.",
        "",
    ]
    for arm, v in t.get("versus_defaults", {}).items():
        if arm != PLAIN_ARM:
            lines += [
                f"{arm} vs {DEFAULTS_ARM}: {v['wins']} wins, {v['ties']} ties, "
                f"{v['losses']} losses.{_difference(v.get('difference'))}",
                "",
            ]
    return lines


def _difference(d: Mapping[str, Any] | None) -> str:
    """The mean paired regret against the defaults and its bootstrap interval, a sentence."""
    if not d:
        return ""
    apart = "holds 0: not told apart" if d["low"] <= 0.0 <= d["high"] else "excludes 0"
    return (
        f" Its pick's true score against the defaults' pick, paired by seed (negative: "
        f"better): mean {d['mean']:+.4f}, "
        f"{100 * d['level']:.0f} % bootstrap interval {d['low']:+.4f} .. {d['high']:+.4f} "
        f"over {d['seeds']} seeds ({apart})."
    )


def _saved(r: Mapping[str, Any]) -> str:
    """Updates the pruner saved, and the probes' updates (their share of the saved ones)."""
    if "saved_steps" not in r:  # a run from before these figures
        return "n/a"
    saved, probes = r["saved_steps"]["mean"], r["probe_steps"]["mean"]
    share = f", {100 * probes / saved:.1f} %" if saved and probes else ""
    return f"{_f(saved, 0)} ({_f(probes, 0)}{share})"


def _picks(picks: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        "## What each search picked",
        "",
        "| task | arm | seed | trials in budget | picked trial | config | search value | "
        "true score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in picks:
        baseline = f" (baseline {p['baseline']})" if p["baseline"] else ""
        lines.append(
            f"| {p['task']} | {p['arm']} | {p['seed']} | {p['trials_in_budget']} | "
            f"{p['picked_trial']}{baseline} | {p['label']} | {_f(p['search_value'])} | "
            f"{_f(p['true_mean'])} |"
        )
    return [*lines, ""]
