"""The task protocol, where user task factories have always imported it from.

:class:`TensorTask` is the data contract of the built-in training loop and lives in
``lrsearch.train.task``; this module keeps ``from lrsearch.tasks.base import TensorTask`` working.
"""

from lrsearch.train.task import (
    Direction,
    LossFn,
    Metric,
    MetricFn,
    TensorTask,
    accuracy,
    cross_entropy,
    to_device,
)

__all__ = [
    "Direction",
    "LossFn",
    "Metric",
    "MetricFn",
    "TensorTask",
    "accuracy",
    "cross_entropy",
    "to_device",
]
