"""A small causal transformer language model on the Python standard library's own source.

The corpus is the source of a fixed, sorted list of standard-library modules (every Python
install has them), concatenated in that order and read as UTF-8 bytes: tokens are bytes, the
vocabulary is 256. It is deterministic for a given Python version, but it depends on that
version's stdlib files, so losses are comparable only between runs on the same Python.

The byte stream, truncated to ``chars`` bytes, is cut into non-overlapping windows of
``context + 1`` tokens: ``x = window[:-1]``, ``y = window[1:]``. The last 10% of the windows
are the validation set (a fixed split, independent of the trial's seed). The loss is the mean
cross-entropy over every position, in nats per byte; ``val_loss`` is the only metric.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from lrsearch.errors import InvalidInputError, LRSearchError
from lrsearch.spec import check_task_options, option_field
from lrsearch.train.task import TensorTask, cross_entropy

VOCAB = 256
VAL_FRACTION = 0.1

#: Sorted; about 500k bytes together on CPython 3.11. Changing this list changes the task.
CORPUS_MODULES = (
    "argparse",
    "bisect",
    "dataclasses",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "heapq",
    "shlex",
    "statistics",
    "string",
    "textwrap",
)


def stdlib_dir() -> Path:
    """The directory holding the standard library's ``.py`` files."""
    return Path(os.__file__).parent


@functools.cache
def corpus() -> bytes:
    """The whole corpus: CORPUS_MODULES' source files, concatenated in order (cached)."""
    root = stdlib_dir()
    missing = [name for name in CORPUS_MODULES if not (root / f"{name}.py").is_file()]
    if missing:
        raise LRSearchError(
            f"charlm: the corpus needs the standard library's source files, but "
            f"{', '.join(f'{name}.py' for name in missing)} are missing from {root}"
        )
    return b"".join((root / f"{name}.py").read_bytes() for name in CORPUS_MODULES)


class CharTransformer(nn.Module):
    """Token and learned position embeddings, pre-norm causal transformer blocks, a byte head."""

    causal_mask: Tensor

    def __init__(self, context: int, d_model: int, layers: int, heads: int) -> None:
        super().__init__()
        self.context = context
        self.token = nn.Embedding(VOCAB, d_model)
        self.position = nn.Embedding(context, d_model)
        block = nn.TransformerEncoderLayer(
            d_model,
            heads,
            dim_feedforward=4 * d_model,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB)
        mask = nn.Transformer.generate_square_subsequent_mask(context)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, tokens: Tensor) -> Tensor:
        """(N, T) int64 tokens, T <= context -> (N, T, 256) logits for the next byte."""
        length = tokens.shape[1]
        positions = torch.arange(length, device=tokens.device)
        h = self.token(tokens) + self.position(positions)
        mask = self.causal_mask[:length, :length]
        h = self.blocks(h, mask=mask, is_causal=True)
        out: Tensor = self.head(self.norm(h))
        return out


def charlm(
    chars: int = 200_000,
    context: int = 64,
    d_model: int = 64,
    layers: int = 2,
    heads: int = 4,
    batch_size: int = 32,
) -> TensorTask:
    """The byte-level language model task; ``chars`` is the corpus size in bytes."""
    # The catalog's checks (types, ranges, heads dividing d_model, enough windows), as at
    # submission, so that calling this factory from Python gives the same errors.
    check_task_options(
        "charlm",
        {
            "chars": chars,
            "context": context,
            "d_model": d_model,
            "layers": layers,
            "heads": heads,
            "batch_size": batch_size,
        },
    )
    data = corpus()
    if chars > len(data):
        raise InvalidInputError(
            option_field("chars"), f"the corpus has {len(data)} bytes; got {chars}"
        )
    window = context + 1
    n_windows = chars // window
    tokens = np.frombuffer(data, dtype=np.uint8, count=n_windows * window)
    windows = torch.tensor(tokens.reshape(n_windows, window), dtype=torch.int64)
    n_val = max(1, round(n_windows * VAL_FRACTION))
    train, val = windows[:-n_val], windows[-n_val:]
    return TensorTask(
        name="charlm",
        make_model=functools.partial(CharTransformer, context, d_model, layers, heads),
        x_train=train[:, :-1].contiguous(),
        y_train=train[:, 1:].contiguous(),
        x_val=val[:, :-1].contiguous(),
        y_val=val[:, 1:].contiguous(),
        loss=cross_entropy,
        metrics={},
        default_metric="val_loss",
        batch_size=batch_size,
        eval_batch_size=256,
    )
