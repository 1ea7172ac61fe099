"""The benchmark's own ``python:`` tasks: small, fast, and chosen so that the schedule matters.

Each factory returns an ``lrsearch.tasks.base.TensorTask``, exactly like a user's task, so
nothing under lrsearch/ knows about them; searches name them as
``python:benchmarks.quality.tasks:<factory>`` (importable from the repository root).

- :func:`noisy_digits`: scikit-learn's digits with a fixed share of the training labels
  replaced by wrong ones, a smaller training set and a wider MLP. The model can memorize the
  noise; how far it gets by the end depends on the LR's path (large early steps that do not
  fit noise, a decay that does not end in memorization), so early leaders are often overtaken.
- :func:`sort_transformer`: a post-norm transformer encoder that outputs its input sequence
  sorted. Post-norm transformers with Adam-type optimizers need warmup at useful LRs: without
  it large LRs stall or diverge, small ones learn slowly.

The data and the splits depend only on fixed seeds, never on a trial's seed.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor, nn

from lrsearch.tasks.base import Metric, TensorTask, accuracy, cross_entropy

DATA_SEED = 12345  # the noise, the subset and the synthetic sequences; never a trial's seed
DIGITS_CLASSES = 10
DIGITS_VAL_FRACTION = 0.25


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (np.asarray(data.data, dtype=np.float64) / 16.0).astype(np.float32)
    return x, np.asarray(data.target, dtype=np.int64)


def _mlp(hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, DIGITS_CLASSES),
    )


def noisy_digits(
    train_size: int = 600, noise: float = 0.4, hidden: int = 256, batch_size: int = 32
) -> TensorTask:
    """Digits: ``train_size`` training images of which a share ``noise`` carry a wrong label
    (drawn uniformly from the other nine classes); validation on clean labels."""
    x, y = _digits()
    rng = np.random.RandomState(DATA_SEED)
    order = rng.permutation(len(y))
    n_val = round(len(y) * DIGITS_VAL_FRACTION)
    val, train = order[:n_val], order[n_val : n_val + train_size]
    y_train = y[train].copy()
    flip = rng.rand(len(train)) < noise
    y_train[flip] = (y_train[flip] + rng.randint(1, DIGITS_CLASSES, size=int(flip.sum()))) % 10
    return TensorTask(
        name="noisy-digits",
        make_model=functools.partial(_mlp, hidden),
        x_train=torch.tensor(x[train]),
        y_train=torch.tensor(y_train),
        x_val=torch.tensor(x[val]),
        y_val=torch.tensor(y[val]),
        loss=cross_entropy,
        metrics={"val_accuracy": Metric(accuracy, "maximize")},
        default_metric="val_loss",
        batch_size=batch_size,
    )


class SortTransformer(nn.Module):
    """Token and position embeddings, a post-norm transformer encoder (no causal mask), a head
    that predicts, at each position, the token that belongs there once sorted."""

    def __init__(self, vocab: int, length: int, d_model: int, layers: int, heads: int) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab, d_model)
        self.position = nn.Embedding(length, d_model)
        block = nn.TransformerEncoderLayer(
            d_model,
            heads,
            dim_feedforward=2 * d_model,
            dropout=0.0,
            batch_first=True,
            norm_first=False,  # post-norm: the classic architecture that needs warmup
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens: Tensor) -> Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        h = self.blocks(self.token(tokens) + self.position(positions))
        out: Tensor = self.head(h)
        return out


def sort_transformer(
    vocab: int = 16,
    length: int = 12,
    train_size: int = 2000,
    val_size: int = 500,
    d_model: int = 48,
    layers: int = 2,
    heads: int = 4,
    batch_size: int = 50,
) -> TensorTask:
    """Sequences of ``length`` tokens from ``vocab``; the target is the sequence sorted."""
    generator = torch.Generator().manual_seed(DATA_SEED)
    x = torch.randint(0, vocab, (train_size + val_size, length), generator=generator)
    y = torch.sort(x, dim=1).values
    return TensorTask(
        name="sort-transformer",
        make_model=functools.partial(SortTransformer, vocab, length, d_model, layers, heads),
        x_train=x[:train_size],
        y_train=y[:train_size],
        x_val=x[train_size:],
        y_val=y[train_size:],
        loss=cross_entropy,
        metrics={"val_accuracy": Metric(_token_accuracy, "maximize")},
        default_metric="val_loss",
        batch_size=batch_size,
    )


def _token_accuracy(outputs: Tensor, targets: Tensor) -> float:
    return accuracy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
