"""How a model learns: the built-in training loop on tensors, written against the Trial API.

Never imports optuna or sqlalchemy: results leave through the Trial's reporter.
``SpecLR`` (the torch scheduler) lives in :mod:`lrsearch.trial.torch_ops`; it is exported
here too, where users have always imported it from.
"""

from lrsearch.trial.torch_ops import SpecLR

__all__ = ["SpecLR"]
