"""Trial: what one trial of a search hands to training code, and its one report call.

The same object in every runtime: the built-in loop, a function trial (``fn(trial)`` in the
worker's process), a command trial (``lrsearch.trial.current()`` in the child, over the local
channel) and ``lrsearch run`` (standalone: reports are printed, never pruned). Only its
:class:`~lrsearch.trial.backend.Reporter` differs.

>>> from lrsearch.schedules import RangeSweep, ScheduleSpec
>>> trial = Trial(
...     number=0, params={}, schedule=ScheduleSpec.create("cosine", lr=0.1),
...     optimizer="sgd", optimizer_params={"momentum": 0.9}, seed=0,
...     budget=TrialBudget(epochs=3), metric="val_loss", direction="minimize",
... )
>>> trial.schedule.lr
0.1
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrsearch.errors import InvalidInputError, TrainingDiverged
from lrsearch.schedules import RangeSweep, ScheduleSpec
from lrsearch.trial.backend import PrintReporter, Reporter
from lrsearch.trial.probe import NO_PROBE_RATIO, ProbeHooks, ProbePlan

if TYPE_CHECKING:
    from torch.optim import Optimizer

    from lrsearch.trial.torch_ops import SpecLR


class TrialPruned(Exception):
    """The search stopped this trial early: let it propagate out of the training code.

    Raised by :meth:`Trial.report`. The search records the trial as PRUNED (``optuna.TrialPruned``
    raised by user code counts the same).
    """


@dataclass(frozen=True)
class TrialBudget:
    """How long a trial trains: ``epochs``, or ``steps`` validated ``evals`` times (either may
    be None when the search leaves the length to the training code)."""

    epochs: int | None = None
    steps: int | None = None
    evals: int = 10

    def to_dict(self) -> dict[str, int | None]:
        return {"epochs": self.epochs, "steps": self.steps, "evals": self.evals}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialBudget:
        return cls(data.get("epochs"), data.get("steps"), int(data.get("evals", 10)))


class Trial:
    """One trial: its schedule, optimizer, seed and budget; ``report()`` after each validation.

    Attributes: ``number``, ``params`` (the Optuna parameters), ``schedule`` (ScheduleSpec),
    ``optimizer`` (name), ``optimizer_params``, ``seed``, ``budget``, ``device``, ``workdir``
    (a folder of its own for checkpoints and logs, made when first asked for), ``metric``,
    ``direction``, ``study``, ``rank`` and ``world_size`` (torchrun).

    ``sweep`` is set on the LR range test's sweep trials: then ``scheduler()`` sweeps the LR
    exponentially over ``sweep.sized(total_steps).steps`` updates (the sweep's share of a
    trial as long as the code plans: :class:`~lrsearch.schedules.RangeSweep`), and the sweep
    ends (``report()`` raises TrialPruned) once it went past them or its loss diverged. A sweep
    reads ``train_loss`` (or ``loss``, else the search's metric) from each report: code that
    reports often (``budget.steps`` and ``budget.evals`` are the sweep's) gives a finer curve.

    ``probe`` is set when the search's pruner is ``anneal``: at its rungs, ``report()`` runs
    an anneal probe with what :meth:`set_probe` offered (see :mod:`lrsearch.trial.probe`).
    """

    def __init__(
        self,
        *,
        number: int,
        params: Mapping[str, Any],
        schedule: ScheduleSpec,
        optimizer: str,
        optimizer_params: Mapping[str, float | bool],
        seed: int,
        budget: TrialBudget,
        metric: str,
        direction: str,
        device: str = "cpu",
        workdir: Path | str = ".",
        study: str = "",
        rank: int = 0,
        world_size: int = 1,
        reporter: Reporter | None = None,
        sweep: RangeSweep | None = None,
        probe: ProbePlan | None = None,
    ) -> None:
        self.number, self.params = number, dict(params)
        self.sweep, self.probe = sweep, probe
        self.probe_updates = 0
        self._probe_hooks: ProbeHooks | None = None
        self.schedule, self.optimizer = schedule, optimizer
        self.optimizer_params = dict(optimizer_params)
        self.seed, self.budget, self.device = seed, budget, device
        self.metric, self.direction, self.study = metric, direction, study
        self.rank, self.world_size = rank, world_size
        self._workdir = Path(workdir)
        self.reporter: Reporter = reporter if reporter is not None else PrintReporter()
        self.reports = 0
        self.last_value: float | None = None
        self._schedulers: list[SpecLR] = []

    def __repr__(self) -> str:
        return (
            f"Trial(number={self.number}, schedule={self.schedule.family}@{self.schedule.lr:g}, "
            f"optimizer={self.optimizer}, metric={self.metric})"
        )

    @property
    def workdir(self) -> Path:
        """This trial's own folder (made on first use)."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        return self._workdir

    @property
    def metric_mode(self) -> str:
        """``"max"`` or ``"min"``: which way the metric improves."""
        return "max" if self.direction == "maximize" else "min"

    def make_optimizer(self, params: Iterable[Any]) -> Optimizer:
        """A torch optimizer of this trial's kind at the schedule's peak LR.

        ``params``: ``model.parameters()`` or param groups; groups with their own ``lr`` keep
        their ratio to the largest one.
        """
        from lrsearch.trial.torch_ops import make_optimizer

        return make_optimizer(self.optimizer, params, self.schedule.lr, self.optimizer_params)

    def scheduler(self, optimizer: Optimizer, total_steps: int) -> SpecLR:
        """The LR scheduler of this trial over ``total_steps`` updates: call ``step()`` after
        every ``optimizer.step()``. Param groups keep their LR ratios."""
        from lrsearch.trial.torch_ops import SpecLR, SweepLR

        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise InvalidInputError(
                "total_steps", f"must be a positive integer, got {total_steps!r}"
            )
        if self.sweep is not None:
            sweep = SweepLR(optimizer, self.sweep, total_steps)
            self._schedulers.append(sweep)
            return sweep
        scheduler = SpecLR(optimizer, self.schedule, total_steps, metric_mode=self.metric_mode)
        self._schedulers.append(scheduler)
        return scheduler

    def set_probe(
        self,
        model: Any,
        optimizer: Optimizer,
        train_step: Callable[[], object],
        evaluate: Callable[[], Mapping[str, float] | float],
    ) -> None:
        """Offer the ``anneal`` pruner its probe (harmless under any other pruner).

        ``optimizer`` is the one this trial's :meth:`scheduler` drives; ``train_step()`` makes
        one update with it on a batch of its own (forward, backward, ``optimizer.step()``, no
        ``scheduler.step()``: the probe sets the LR); ``evaluate()`` validates ``model`` and
        returns the metrics (a mapping with the search's metric) or the metric itself. Draw the
        probe's batches from an iterator of their own, so training sees the same data with or
        without probes; the probe puts back the weights, the optimizer and the RNG itself.
        """
        self._probe_hooks = ProbeHooks(model, optimizer, train_step, evaluate)

    def report(self, step: int, **metrics: float) -> None:
        """Record one validation (``metrics`` must include the search's metric).

        Raises :class:`TrialPruned` when the search stops this trial, and TrainingDiverged when
        the metric is NaN or infinite (the trial fails as "diverged"). Feeds reduce-on-plateau.
        In a sweep (see the class docstring) a non-finite loss ends the sweep instead.
        """
        if self.sweep is not None:
            self._report_sweep(int(step), {k: float(v) for k, v in metrics.items()})
            return
        if self.metric not in metrics:
            raise InvalidInputError(
                "metrics", f"trial.report() needs {self.metric!r}, got {', '.join(metrics)}"
            )
        values = {key: float(value) for key, value in metrics.items()}
        value = values[self.metric]
        index, self.reports = self.reports, self.reports + 1
        if self.probe is not None and index in self.probe.rungs and math.isfinite(value):
            values.update(self._anneal_probe())
        prune = _decide(self.reporter, int(step), values)
        if not math.isfinite(value):
            raise TrainingDiverged(index, self.metric, value)
        self.last_value = value
        for scheduler in self._schedulers:
            scheduler.observe(value)
        if prune:
            raise TrialPruned(f"trial {self.number} pruned at step {step}")

    def _anneal_probe(self) -> dict[str, float]:
        """The probe of this rung: ``probe_value`` and ``probe_updates``; nothing when the code
        offered no probe, made no scheduler, or has (almost) no decay left to probe."""
        hooks, plan = self._probe_hooks, self.probe
        if hooks is None or plan is None:
            return {}
        schedulers = [s for s in self._schedulers if s.optimizer is hooks.optimizer]
        if not schedulers:
            return {}
        from lrsearch.trial.torch_ops import anneal_probe

        scheduler = schedulers[-1]
        now, lowest = scheduler.lowest_ahead()
        if now <= 0.0 or now < NO_PROBE_RATIO * lowest:
            return {}
        updates = plan.updates(scheduler.total_steps)
        try:
            annealed = anneal_probe(hooks, updates, lowest / now, self.metric)
        except Exception as exc:  # the code's probe failed: say so once, go on without
            print(
                f"lrsearch: trial {self.number}: the anneal probe failed "
                f"({type(exc).__name__}: {exc}); the trial goes on without probes",
                file=sys.stderr,
            )
            self._probe_hooks = None
            return {}
        self.probe_updates += updates
        return {"probe_value": annealed, "probe_updates": float(self.probe_updates)}

    def _report_sweep(self, step: int, values: dict[str, float]) -> None:
        """A sweep's report: the loss with the LR of the last update, and whether it ends."""
        key = next((k for k in ("train_loss", "loss", self.metric) if k in values), None)
        if key is None:
            raise InvalidInputError(
                "metrics", f"an LR sweep's report needs train_loss or {self.metric!r}"
            )
        loss = values[key]
        if key == self.metric and self.direction == "maximize":
            loss = -loss  # the sweep reads a loss: lower is better
        values["sweep_loss"] = loss
        if self._schedulers:  # made by torch_ops: torch is imported already
            from lrsearch.trial.torch_ops import SweepLR

            sweeps = [s for s in self._schedulers if isinstance(s, SweepLR)]
            if sweeps:  # without one, the LR never moved: the worker says so
                values["sweep_lr"] = sweeps[-1].last_lr
                values["sweep_update"] = float(sweeps[-1].updates)
                values["trial_updates"] = float(sweeps[-1].trial_updates)
        self.reports += 1
        if _decide(self.reporter, step, values):
            raise TrialPruned(f"LR sweep of trial {self.number} ended at step {step}")

    def describe(self) -> dict[str, Any]:
        """This trial as JSON (what the channel's ``hello`` answers)."""
        return {
            "number": self.number,
            "study": self.study,
            "params": self.params,
            "schedule": self.schedule.to_dict(),
            "optimizer": self.optimizer,
            "optimizer_params": self.optimizer_params,
            "seed": self.seed,
            "budget": self.budget.to_dict(),
            "device": self.device,
            "workdir": str(self._workdir),
            "metric": self.metric,
            "direction": self.direction,
            "sweep": None if self.sweep is None else self.sweep.to_dict(),
            "probe": None if self.probe is None else self.probe.to_dict(),
        }

    @classmethod
    def from_description(
        cls,
        data: Mapping[str, Any],
        reporter: Reporter | None = None,
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> Trial:
        """The Trial ``describe()`` gave, reporting to ``reporter``."""
        return cls(
            number=int(data["number"]),
            params=data.get("params", {}),
            schedule=ScheduleSpec.from_dict(data["schedule"], complete=True),
            optimizer=str(data["optimizer"]),
            optimizer_params=data.get("optimizer_params", {}),
            seed=int(data.get("seed", 0)),
            budget=TrialBudget.from_dict(data.get("budget", {})),
            metric=str(data["metric"]),
            direction=str(data["direction"]),
            device=str(data.get("device", "cpu")),
            workdir=data.get("workdir", "."),
            study=str(data.get("study", "")),
            rank=rank,
            world_size=world_size,
            reporter=reporter,
            sweep=RangeSweep.from_dict(data["sweep"]) if data.get("sweep") else None,
            probe=ProbePlan.from_dict(data["probe"]) if data.get("probe") else None,
        )


def _decide(reporter: Reporter, step: int, metrics: dict[str, float]) -> bool:
    """Ask the reporter; under torch.distributed, rank 0 asks and every rank gets its answer
    in the same call, so that all ranks stop together."""
    dist = sys.modules.get("torch.distributed")  # never import torch for this
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return reporter.report(step, metrics)
    if dist.get_world_size() < 2:
        return reporter.report(step, metrics)
    decision = [reporter.report(step, metrics) if dist.get_rank() == 0 else False]
    dist.broadcast_object_list(decision, src=0)
    return bool(decision[0])
