"""Samplers and pruners named in a SearchSpec."""

from __future__ import annotations

import warnings

import optuna

from lrsearch.search.pruning import AnnealProbePruner, ScheduleAwarePruner
from lrsearch.space import grid_space
from lrsearch.spec import SearchSpec


def make_sampler(spec: SearchSpec, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    """The spec's sampler; each worker of a search gets its own seed so workers differ.

    TPE runs multivariate with ``group=True``: it models each family's parameters together and
    only over the trials of that family, which is what a conditional space needs. With several
    workers ``constant_liar`` keeps them from proposing the same point.
    """
    seed = spec.search.seed + 7919 * worker_index
    startup = spec.search.startup_trials
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if spec.search.sampler == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=startup,
                multivariate=True,
                group=True,
                constant_liar=True,
            )
        if spec.search.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if spec.search.sampler == "grid":
            return optuna.samplers.GridSampler(grid_space(spec), seed=seed)
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)


def make_pruner(spec: SearchSpec) -> optuna.pruners.BasePruner:
    """The spec's pruner. ``schedule`` and ``anneal`` are lrsearch's own (pruning.py): the
    first compares a trial only with trials that have at least as much LR decay left, the
    second compares the values trials reach when their LR is annealed now (anneal probes), so
    late decay is not punished."""
    name, reports = spec.search.pruner, spec.budget.reports
    if name == "anneal":
        return AnnealProbePruner(
            min_references=max(1, spec.search.startup_trials),
            warmup_rungs=min(1, reports - 1),
        )
    if name == "schedule":
        return ScheduleAwarePruner(
            min_references=max(1, spec.search.startup_trials),
            warmup_rungs=min(1, reports - 1),
        )
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=spec.search.startup_trials, n_warmup_steps=min(1, reports - 1)
        )
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=reports, reduction_factor=3
        )
    return optuna.pruners.NopPruner()
