"""Anneal probes: what the ``anneal`` pruner asks of a trial's training code.

At a few rungs (``ProbePlan.rungs``: report indexes) the pruner judges a trial by the value it
would reach if its LR were annealed now. The training code offers the means once, with
:meth:`lrsearch.Trial.set_probe` (the model, its optimizer, one training update, an
evaluation); at a probe rung, ``trial.report()`` first runs the probe
(:func:`lrsearch.trial.torch_ops.anneal_probe`): the weights, the optimizer's state and the
RNG are saved, the LR falls linearly from where it is to the lowest LR the schedule still has
ahead over ``share`` of the run's updates, the model is evaluated, and everything is put back.
Training then goes on exactly as without the probe. The report carries ``probe_value`` (the
annealed metric) and ``probe_updates`` (all probe updates of the trial so far: they count in
the search's budget).

Code that offers no probe is judged by the schedule-aware rule instead (the fallback); a probe
that fails is reported once on stderr and the trial goes on without probes.

This module needs no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# An LR already within this factor of the lowest LR ahead: the value is its annealed value.
NO_PROBE_RATIO = 2.0


@dataclass(frozen=True)
class ProbePlan:
    """Where a trial is probed (``rungs``: 0-based report indexes) and how long a probe is
    (``share`` of the run's updates, at least one)."""

    rungs: tuple[int, ...]
    share: float

    def updates(self, total_updates: int) -> int:
        """The updates of one probe in a run of ``total_updates``.

        >>> ProbePlan((2,), 0.04).updates(1000), ProbePlan((2,), 0.04).updates(10)
        (40, 1)
        """
        return max(1, round(self.share * total_updates))

    def to_dict(self) -> dict[str, Any]:
        return {"rungs": list(self.rungs), "share": self.share}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbePlan:
        return cls(tuple(int(r) for r in data.get("rungs", ())), float(data.get("share", 0.0)))


@dataclass(frozen=True)
class ProbeHooks:
    """What the training code offers (see :meth:`lrsearch.Trial.set_probe`)."""

    model: Any  # torch.nn.Module
    optimizer: Any  # torch.optim.Optimizer: the one the trial's scheduler drives
    train_step: Callable[[], object]
    evaluate: Callable[[], Mapping[str, float] | float]
