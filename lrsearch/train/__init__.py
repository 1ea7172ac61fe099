"""How a model learns: the training loop and the torch adapter for schedules.

Never imports optuna or sqlalchemy: results leave through a Reporter.
"""

from lrsearch.train.torch_schedule import SpecLR

__all__ = ["SpecLR"]
