"""The best trial as something to use: JSON with what it is, or PyTorch code that rebuilds it.

``best_pytorch`` writes one self-contained module (``math`` and ``torch`` only): the
schedule's code from :func:`lrsearch.schedules.codegen.pytorch_snippet`, and
``make_optimizer(params)``, which builds the optimizer the best trial trained with (its name,
its searched options, the peak LR). Param groups keep their LR ratios: ``make_scheduler``
scales every group by its ratio to the largest.
"""

from __future__ import annotations

import textwrap
from typing import Any

from lrsearch import store
from lrsearch.schedules import ScheduleSpec, curve
from lrsearch.schedules.codegen import pytorch_snippet
from lrsearch.service.backend import Backend
from lrsearch.service.confirmed import confirmation_summary
from lrsearch.service.lr_range import lr_range_view
from lrsearch.service.names import known_name
from lrsearch.space import baseline_configs
from lrsearch.spec import parse_spec

# The torch.optim class of each optimizer a spec may name (lrsearch.trial.torch_ops builds these).
TORCH_OPTIMIZERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}
_CONFIG_KEYS = ("schedule", "optimizer", "optimizer_params", "seed")


def best_config(backend: Backend, name: str, *, steps: int | None = None) -> dict[str, Any]:
    """The best trial as JSON-ready data (what ``lrsearch best`` prints); ``steps`` adds
    ``lr``, its schedule rendered for a run of that many updates.

    ``baseline`` names the classic schedule the best trial ran when it is one of the search's
    baselines (no searched schedule beat it), else None; ``baselines`` compares each baseline,
    run after the search at the tuned best's optimizer, peak LR, warmup and seed, with that
    tuned best; ``steps`` is the number of updates the best trial trained (the length the
    schedule was searched on).

    ``confirmation`` (None for a search that does not confirm, or not yet) gives each
    confirmed config's mean, std, n, 95% interval and probability of being the best
    (service/confirmed.py). Once every confirmation has ended, the best is the config with
    the best mean: ``trial_number`` is the trial it repeats (``value`` that trial's own,
    ``confirmed`` its statistics), and ``single_best`` the best single trial it replaces.
    """
    best = store.best_summary(backend.reader, known_name(name))
    search = store.get_search(backend.reader, name)
    rows = store.baseline_rows(backend.reader, search.id)
    ran = [r.name for r in rows if r.trial_number == best["trial_number"]]
    best["baseline"] = ran[0] if ran else baseline_name(search.spec, best)
    best["baselines"] = [baseline_comparison(r, best["direction"]) for r in rows]
    best["lr_range"] = lr_range_view(backend, name)  # the range test's ranges and curves
    confirmation = confirmation_summary(
        store.confirmation_rows(backend.reader, search.id), best["direction"]
    )
    best["confirmation"] = confirmation
    best["confirmed"] = None
    best["single_best"] = {"trial_number": best["trial_number"], "value": best["value"]}
    if confirmation is not None and confirmation["winner"] is not None:
        _take_confirmed(best, confirmation["configs"][0], backend, search)
    if steps is not None:
        spec = ScheduleSpec.from_dict(best["schedule"], complete=True)
        best["lr"] = curve(spec, steps).tolist()
    return best


def _take_confirmed(
    best: dict[str, Any], winner: dict[str, Any], backend: Backend, search: store.Search
) -> None:
    """The confirmed winner becomes the best: its config (with the seed of the trial it
    repeats, from the leaders), and its statistics under ``confirmed``."""
    seeds = {
        r.trial_number: r.config.get("seed") for r in store.leader_rows(backend.reader, search)
    }
    best.update(
        trial_number=winner["trial_number"],
        value=winner["trial_value"],
        schedule=winner["schedule"],
        optimizer=winner["optimizer"],
        optimizer_params=winner["optimizer_params"],
        baseline=None,  # confirmations repeat searched configs only
    )
    best["seed"] = seeds.get(winner["trial_number"], best["seed"])
    best["confirmed"] = {
        key: winner[key] for key in ("n", "mean", "std", "interval", "p_best", "values")
    }


def baseline_comparison(row: store.BaselineRow, direction: str) -> dict[str, Any]:
    """One baseline beside the tuned best it ran after (``gain`` > 0: the tuned best is better).

    >>> row = store.BaselineRow("cosine", {"schedule": {"family": "cosine"}, "optimizer": "sgd"},
    ...     4, 0.30, 31, "complete", 0.35)
    >>> round(baseline_comparison(row, "minimize")["gain"], 6)
    0.05
    """
    gain = None
    if row.value is not None and row.tuned_value is not None:
        gain = row.tuned_value - row.value
        gain = gain if direction == "maximize" else -gain
    return {
        "name": row.name,
        "state": row.state,
        "value": row.value,
        "trial_number": row.trial_number,
        "schedule": row.config["schedule"],
        "optimizer": row.config["optimizer"],
        "tuned_trial": row.tuned_trial,
        "tuned_value": row.tuned_value,
        "gain": gain,
    }


def baseline_name(spec: Any, best: dict[str, Any]) -> str | None:
    """The classic baseline whose config the best trial ran, for searches that ran them first
    (before ``lr_baselines``): equality of the config, seed included, is the test."""
    ran = {key: best[key] for key in _CONFIG_KEYS}
    for baseline, config in baseline_configs(parse_spec(spec)):
        if config.to_dict() == ran:
            return baseline
    return None


def best_summary_line(best: dict[str, Any]) -> str:
    """One line on the best trial: its value, whether it is a baseline, its length.

    >>> best_summary_line({"study": "s", "metric": "val_loss", "value": 0.25,
    ...     "trial_number": 3, "baseline": "cosine", "steps": 1200})
    "best of 's': val_loss = 0.25 (trial 3), the 'cosine' baseline: no searched schedule beat \
it; searched on 1,200 optimizer updates (the schedule renders for any length)"
    """
    confirmed = best.get("confirmed")
    if confirmed:
        return _confirmed_line(best, confirmed)
    line = f"best of {best['study']!r}: {best['metric']} = {best['value']:.6g} "
    line += f"(trial {best['trial_number']})"
    if best.get("baseline"):
        line += f", the {best['baseline']!r} baseline: no searched schedule beat it"
    if best.get("steps"):
        line += f"; searched on {best['steps']:,} optimizer updates"
        line += " (the schedule renders for any length)"
    return line


def _confirmed_line(best: dict[str, Any], confirmed: dict[str, Any]) -> str:
    """The summary line of a confirmed best: mean ± std over n fresh seeds, its interval, how
    likely it is the best, and which trial it repeats.

    >>> _confirmed_line({"study": "s", "metric": "acc", "trial_number": 3, "value": 0.95,
    ...     "confirmation": {"top_k": 3}}, {"mean": 0.93, "std": 0.01, "n": 3,
    ...     "interval": [0.905, 0.955], "p_best": 0.71})
    "best of 's': acc = 0.93 ± 0.01 (mean ± std over 3 fresh seeds; 95% interval [0.905, \
0.955]; best of the 3 confirmed with probability 0.71), the config of trial 3 (0.95 on its own \
seed)"
    """
    line = f"best of {best['study']!r}: {best['metric']} = {confirmed['mean']:.6g}"
    if confirmed.get("std") is not None:
        line += f" ± {confirmed['std']:.2g}"
    line += f" (mean ± std over {confirmed['n']} fresh seeds"
    if confirmed.get("interval"):
        low, high = confirmed["interval"]
        line += f"; 95% interval [{low:.6g}, {high:.6g}]"
    if confirmed.get("p_best") is not None:
        k = (best.get("confirmation") or {}).get("top_k", "k")
        line += f"; best of the {k} confirmed with probability {confirmed['p_best']:.2f}"
    line += f"), the config of trial {best['trial_number']} ({best['value']:.6g} on its own seed)"
    return line


def best_pytorch(backend: Backend, name: str, *, steps: int | None = None) -> str:
    """Self-contained PyTorch code that builds the best optimizer and schedule (for ``steps``
    updates, else for as many as the best trial trained)."""
    best = best_config(backend, name)
    options = best["optimizer_params"]
    optimizer = f"torch.optim.{TORCH_OPTIMIZERS[best['optimizer']]}"
    optimizer += f"({_kwargs(options)})" if options else ""
    title = "\n".join(
        [
            *textwrap.wrap(best_summary_line(best) + ".", 96),
            *textwrap.wrap(
                f"Optimizer: {optimizer} at the peak LR, built by make_optimizer(params); "
                "param groups with their own lr keep their ratios under make_scheduler:",
                96,
            ),
            "",
            "    optimizer = make_optimizer(model.parameters())",
        ]
    )
    code = pytorch_snippet(
        ScheduleSpec.from_dict(best["schedule"], complete=True),
        total_steps=steps or best["steps"],
        title=title,
        metric_mode="max" if best["direction"] == "maximize" else "min",
    )
    return code + "\n\n" + optimizer_code(best["optimizer"], options)


def optimizer_code(optimizer: str, options: dict[str, Any]) -> str:
    """``OPTIMIZER_OPTIONS`` and ``make_optimizer(params)`` for the snippet (after PEAK_LR)."""
    cls = TORCH_OPTIMIZERS[optimizer]
    return f'''OPTIMIZER_OPTIONS = {options!r}  # searched with the schedule


def make_optimizer(params) -> torch.optim.Optimizer:
    """torch.optim.{cls} with the searched options, at PEAK_LR.

    `params` as torch takes them: model.parameters(), or param groups (dicts); a group with
    its own "lr" keeps its ratio to the others once make_scheduler(optimizer, ...) scales
    the largest to PEAK_LR.
    """
    return torch.optim.{cls}(params, lr=PEAK_LR, **OPTIMIZER_OPTIONS)
'''


def _kwargs(options: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in options.items())
