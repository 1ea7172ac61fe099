"""The confirmed best: each top config's mean over its fresh seeds, with its uncertainty.

A search with ``[search] confirm`` re-runs its ``top_k`` best configs on ``seeds`` fresh seeds
each once its own trials are done (space/confirm.py). Per config, from its complete
confirmations only (the original trial's value is left out: it was selected for being high,
so it is biased upward; that is the winner's curse the confirmation is there to undo):

- ``mean``, ``std`` (sample standard deviation, n - 1) and ``n``;
- a 95% interval for the config's true mean, ``mean ± t(0.975, n - 1) · std / √n`` (Student
  t: the seeds' spread is estimated from the same few runs);
- ``p_best``: the probability that this config is truly the best of the k. Each config's
  true mean gets the standard noninformative posterior for normal data with unknown variance,
  ``mean + std / √n · T`` with ``T`` a Student t with n - 1 degrees of freedom; the posteriors
  are independent across configs. ``p_best`` is the share of :data:`DRAWS` joint draws (a
  fixed seed, so the same rows give the same answer) in which the config's draw is the best
  (the highest when maximizing). Configs with fewer than 2 complete confirmations have no
  spread, hence no interval and no ``p_best``, and take no part in the draws.

The best is the config with the best mean, once every confirmation has ended; until then the
best stays the best single trial (``lr_best``), and ``done`` says the confirmation is not.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrsearch import store

DRAWS = 100_000  # Monte Carlo draws for p_best: its error is below 0.002
DRAW_SEED = 0

# t(0.975, df) for df = 1..30 (scipy.stats.t.ppf); beyond, a Cornish-Fisher expansion.
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
    2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
    2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip
_Z975 = 1.959963984540054


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (to 1e-6).

    >>> round(t975(2), 4), round(t975(1000), 4)
    (4.3027, 1.9623)
    """
    if df < 1:
        raise ValueError(f"df must be >= 1 (got {df})")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class ConfigStats:
    """One confirmed config: the trial it repeats, its seeds' values and their summary."""

    trial_number: int
    trial_value: float  # the original trial's (selected, hence biased) value
    config: dict[str, Any]
    values: tuple[float, ...]  # the complete confirmations' values, by repeat
    ended: int  # confirmations that ended (complete, failed or pruned)
    queued: int  # confirmations still to run or running
    p_best: float | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> float | None:
        return float(np.std(self.values, ddof=1)) if self.n >= 2 else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% Student-t interval for the config's true mean (None below 2 values)."""
        if self.mean is None or self.std is None:
            return None
        half = t975(self.n - 1) * self.std / math.sqrt(self.n)
        return (self.mean - half, self.mean + half)

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "trial_number": self.trial_number,
            "trial_value": self.trial_value,
            "schedule": self.config["schedule"],
            "optimizer": self.config["optimizer"],
            "optimizer_params": self.config.get("optimizer_params", {}),
            "values": list(self.values),
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "interval": list(interval) if interval is not None else None,
            "p_best": self.p_best,
            "failed": self.ended - self.n,
            "queued": self.queued,
        }


def p_best(stats: Sequence[ConfigStats], maximize: bool) -> list[float | None]:
    """The probability that each config is truly the best of them (module docstring); None
    for a config with fewer than 2 values.

    >>> a = ConfigStats(1, 0.9, {}, (0.90, 0.91, 0.92), 3, 0)
    >>> b = ConfigStats(2, 0.9, {}, (0.80, 0.81, 0.82), 3, 0)
    >>> [round(p, 3) for p in p_best([a, b], maximize=True)]
    [0.996, 0.004]
    """
    key = tuple(
        (s.mean, s.std, s.n) if s.n >= 2 and s.mean is not None and s.std is not None else None
        for s in stats
    )
    return list(_p_best(key, maximize))


@functools.lru_cache(maxsize=256)
def _p_best(
    key: tuple[tuple[float, float, int] | None, ...], maximize: bool
) -> tuple[float | None, ...]:
    """:func:`p_best` on (mean, std, n) per config (None: fewer than 2 values). Deterministic
    (a fixed seed), so kept: a search's ``/best`` draws once, not on every read."""
    ranked = [i for i, k in enumerate(key) if k is not None]
    out: list[float | None] = [None] * len(key)
    if not ranked:
        return tuple(out)
    rng = np.random.default_rng(DRAW_SEED)
    draws = np.empty((len(ranked), DRAWS))
    for row, (mean, std, n) in enumerate(k for k in key if k is not None):
        draws[row] = mean + std / math.sqrt(n) * rng.standard_t(n - 1, DRAWS)
    winners = draws.argmax(axis=0) if maximize else draws.argmin(axis=0)
    counts = np.bincount(winners, minlength=len(ranked))
    for row, i in enumerate(ranked):
        out[i] = float(counts[row] / DRAWS)
    return tuple(out)


def config_stats(rows: Sequence[store.ConfirmationRow], maximize: bool) -> list[ConfigStats]:
    """The confirmed configs from their ``lr_confirmations`` rows, best mean first (configs
    without a complete confirmation last, in the order they were confirmed)."""
    by_trial: dict[int, list[store.ConfirmationRow]] = {}
    for row in rows:
        by_trial.setdefault(row.confirms, []).append(row)
    found = []
    for number, repeats in by_trial.items():
        repeats = sorted(repeats, key=lambda r: r.seed_index)
        values = tuple(r.value for r in repeats if r.state == "complete" and r.value is not None)
        config = dict(repeats[0].config)  # its seed is the first repeat's: each has its own
        queued = sum(r.state == "queued" for r in repeats)
        found.append(
            ConfigStats(
                number, repeats[0].confirmed_value, config, values, len(repeats) - queued, queued
            )
        )
    probabilities = p_best(found, maximize)
    found = [
        ConfigStats(s.trial_number, s.trial_value, s.config, s.values, s.ended, s.queued, p)
        for s, p in zip(found, probabilities, strict=True)
    ]
    sign = -1.0 if maximize else 1.0
    return sorted(
        found,
        key=lambda s: (s.mean is None, sign * s.mean if s.mean is not None else 0.0),
    )


def confirmation_summary(
    rows: Sequence[store.ConfirmationRow], direction: str
) -> dict[str, Any] | None:
    """``best``'s ``confirmation``: whether it is done, and each config's statistics, best
    mean first; None for a search without confirmations (yet)."""
    if not rows:
        return None
    stats = config_stats(rows, direction == "maximize")
    done = all(s.queued == 0 for s in stats)
    winner = stats[0] if done and stats[0].mean is not None else None
    return {
        "done": done,
        "top_k": len(stats),
        "seeds": max(r.seed_index for r in rows) + 1,
        "winner": winner.trial_number if winner is not None else None,
        "configs": [s.to_dict() for s in stats],
    }
