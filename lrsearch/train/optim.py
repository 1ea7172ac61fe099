"""Building torch optimizers by name, with the peak LR of the schedule."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from lrsearch.errors import InvalidInputError

_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


def make_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, options: Mapping[str, float | bool]
) -> torch.optim.Optimizer:
    """``make_optimizer("sgd", model.parameters(), 0.1, {"momentum": 0.9})``."""
    try:
        cls = _OPTIMIZERS[name]
    except KeyError:
        known = ", ".join(_OPTIMIZERS)
        raise InvalidInputError(
            "optimizer", f"unknown optimizer {name!r}: known are {known}"
        ) from None
    return cls(params, lr=lr, **options)
