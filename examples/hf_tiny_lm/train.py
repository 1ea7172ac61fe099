"""A tiny GPT-2 trained by the Hugging Face Trainer on Python's own docstrings: a function trial.

The model is built from a ``GPT2Config`` (2 layers, 32-wide: no weights to download) and reads
bytes (a 256-token vocabulary: no tokenizer to download); the text is the docstrings of a few
standard-library modules, so the example runs offline in seconds. lrsearch's part is
:class:`~lrsearch.integrations.transformers.TrialTrainer` (a Trainer with the trial's optimizer
and per-step schedule that reports ``eval_loss`` after each evaluation) and the trial's length.

    lrsearch search examples/hf_tiny_lm/spec.toml --workers 2   # from the repository root
    python -m examples.hf_tiny_lm.train                         # alone: a cosine schedule
"""

from __future__ import annotations

import functools
import importlib
import inspect

import torch
from torch import Tensor
from torch.utils.data import Dataset
from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

import lrsearch.trial
from lrsearch.integrations.transformers import TrialTrainer, length_arguments
from lrsearch.schedules import ScheduleSpec

MODULES = ("json", "collections", "itertools", "functools", "textwrap", "argparse", "pathlib")
BLOCK = 64  # tokens (bytes) per training example
EPOCHS = 3  # when the search does not say


@functools.cache
def corpus() -> bytes:
    """Every docstring of ``MODULES`` and their public members, as UTF-8 bytes."""
    texts = []
    for name in MODULES:
        module = importlib.import_module(name)
        members = [module, *(getattr(module, key) for key in sorted(vars(module)))]
        texts += [doc for obj in members if (doc := inspect.getdoc(obj))]
    return "\n\n".join(dict.fromkeys(texts)).encode()


class Blocks(Dataset[dict[str, Tensor]]):
    """Consecutive BLOCK-byte windows; the labels are the inputs (the model shifts them)."""

    def __init__(self, data: bytes) -> None:
        self.ids = torch.tensor(list(data), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.ids) // BLOCK

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        ids = self.ids[i * BLOCK : (i + 1) * BLOCK]
        return {"input_ids": ids, "labels": ids}


def make_model() -> GPT2LMHeadModel:
    config = GPT2Config(
        vocab_size=256,
        n_positions=BLOCK,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config)


def objective(trial: lrsearch.Trial) -> float:
    """Train with the trial's schedule; the last evaluation loss."""
    data = corpus()[:24_000]
    split = len(data) * 9 // 10
    torch.manual_seed(trial.seed)
    args = TrainingArguments(
        output_dir=str(trial.workdir / "hf"),
        **length_arguments(trial, default_epochs=EPOCHS),  # lrsearch: the trial's budget
        seed=trial.seed,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=64,
        max_grad_norm=1.0,
        use_cpu=not trial.device.startswith("cuda"),  # lrsearch: the agent's GPU, or the CPU
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    trainer = TrialTrainer(  # lrsearch: the trial's optimizer and schedule, reports
        trial,
        model=make_model(),
        args=args,
        train_dataset=Blocks(data[:split]),
        eval_dataset=Blocks(data[split:]),
    )
    trainer.train()
    return float(trainer.evaluate()["eval_loss"])


def standalone_trial() -> lrsearch.Trial:
    """Run alone: AdamW with a cosine schedule; reports are printed."""
    return lrsearch.Trial(
        number=0,
        params={},
        schedule=ScheduleSpec.create("cosine", lr=3e-3, warmup_fraction=0.1),
        optimizer="adamw",
        optimizer_params={},
        seed=0,
        budget=lrsearch.trial.TrialBudget(epochs=EPOCHS),
        metric="eval_loss",
        direction="minimize",
        workdir="hf_tiny_lm-run",
    )


if __name__ == "__main__":
    try:
        trial = lrsearch.trial.current()
    except lrsearch.trial.NotInTrialError:
        trial = standalone_trial()
    print(f"eval_loss {objective(trial):.4f}")
