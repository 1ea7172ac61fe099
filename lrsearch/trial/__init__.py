"""The API training code sees: :class:`Trial`, its one ``report()`` call, and ``current()``.

>>> import lrsearch
>>> def objective(trial: lrsearch.Trial) -> float:  # doctest: +SKIP
...     opt = trial.make_optimizer(model.parameters())
...     sched = trial.scheduler(opt, total_steps=1000)
...     for step in range(1000):
...         ...  # forward, backward, opt.step(), sched.step()
...         if step % 100 == 99:
...             trial.report(step, val_loss=evaluate(model))  # may raise TrialPruned
...     return evaluate(model)

A command trial (``command = ["python", "train.py"]``) does the same with
``trial = lrsearch.trial.current()``. Importing this package needs no torch: the optimizer and
scheduler come from :mod:`lrsearch.trial.torch_ops` when first asked for.
"""

from lrsearch.trial.backend import PrintReporter, Reporter
from lrsearch.trial.channel import (
    SOCKET_ENV,
    TOKEN_ENV,
    ChannelError,
    NotInTrialError,
    activated,
    current,
)
from lrsearch.trial.trial import Trial, TrialBudget, TrialPruned

__all__ = [
    "SOCKET_ENV",
    "TOKEN_ENV",
    "ChannelError",
    "NotInTrialError",
    "PrintReporter",
    "Reporter",
    "Trial",
    "TrialBudget",
    "TrialPruned",
    "activated",
    "current",
]
