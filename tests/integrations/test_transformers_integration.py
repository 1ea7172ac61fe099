"""lrsearch.integrations.transformers with a real HF Trainer (a tiny GPT-2 from its config)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from integutil import SCHEDULE, Recording
from torch import Tensor
from torch.utils.data import Dataset
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from lrsearch.errors import InvalidInputError
from lrsearch.integrations.transformers import TrialCallback, TrialTrainer, length_arguments
from lrsearch.schedules import curve
from lrsearch.trial import Trial, TrialBudget, TrialPruned

ROWS, BATCH = 32, 8  # 4 batches per epoch


@pytest.fixture
def hf_trial(make_trial: Callable[..., tuple[Trial, Recording]]) -> Callable[..., Any]:
    """A trial whose metric is the Trainer's ``eval_loss``."""

    def make(prune_at: int | None = None, **fields: Any) -> tuple[Trial, Recording]:
        return make_trial(prune_at, **{"metric": "eval_loss", **fields})

    return make


MakeTrial = Callable[..., tuple[Trial, Recording]]


class Tokens(Dataset[dict[str, Tensor]]):
    def __init__(self, rows: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 16, (rows, 8), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class LRs(TrainerCallback):
    """Each param group's LR right before every optimizer step."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.lrs.append([group["lr"] for group in kw["optimizer"].param_groups])


def _model() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=16, n_positions=8, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0
    )
    return GPT2LMHeadModel(config)


def _args(trial: Trial, tmp_path: Path, **options: Any) -> TrainingArguments:
    settings: dict[str, Any] = {
        **length_arguments(trial),
        "per_device_train_batch_size": BATCH,
        "use_cpu": True,
        "save_strategy": "no",
        "logging_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        **options,
    }
    return TrainingArguments(str(tmp_path / "out"), **settings)


def _trainer(trial: Trial, tmp_path: Path, lrs: LRs, **options: Any) -> TrialTrainer:
    return TrialTrainer(
        trial,
        model=_model(),
        args=_args(trial, tmp_path, **options),
        train_dataset=Tokens(ROWS, 1),
        eval_dataset=Tokens(16, 2),
        callbacks=[lrs],
    )


def test_every_update_follows_the_schedule_over_the_trainers_step_count(
    hf_trial: MakeTrial, tmp_path: Path
) -> None:
    trial, reporter = hf_trial(budget=TrialBudget(epochs=3), optimizer="adamw", optimizer_params={})
    lrs = LRs()
    trainer = _trainer(trial, tmp_path, lrs, gradient_accumulation_steps=2)
    trainer.train()
    total = 3 * (ROWS // BATCH) // 2  # optimizer updates: gradient accumulation counted
    assert trainer.state.max_steps == total == trainer.lr_scheduler.total_steps
    assert isinstance(trainer.optimizer.optimizer, torch.optim.AdamW)  # inside accelerate's
    assert [step[0] for step in lrs.lrs] == pytest.approx(curve(SCHEDULE, total).tolist())
    assert reporter.steps == [2, 4, 6]
    assert all(math.isfinite(metrics["eval_loss"]) for _, metrics in reporter.seen)
    assert not any(key.endswith("_runtime") for _, metrics in reporter.seen for key in metrics)


def test_weight_decay_spares_biases_and_norms_and_every_group_follows_the_curve(
    hf_trial: MakeTrial, tmp_path: Path
) -> None:
    trial, _ = hf_trial(budget=TrialBudget(epochs=1))
    lrs = LRs()
    trainer = _trainer(trial, tmp_path, lrs, weight_decay=0.1)
    trainer.train()
    decay, no_decay = trainer.optimizer.param_groups
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    named = dict(trainer.model.named_parameters())
    assert any(p is named["transformer.ln_f.bias"] for p in no_decay["params"])
    expected = curve(SCHEDULE, ROWS // BATCH).tolist()
    assert [step for step, _ in lrs.lrs] == pytest.approx(expected)
    assert [step for _, step in lrs.lrs] == pytest.approx(expected)


def test_a_plain_trainer_with_the_callback_keeps_param_group_ratios(
    hf_trial: MakeTrial, tmp_path: Path
) -> None:
    trial, reporter = hf_trial(budget=TrialBudget(epochs=2))
    model = _model()
    embeddings = [p for n, p in model.named_parameters() if n.startswith("transformer.wte")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("transformer.wte")]
    optimizer = trial.make_optimizer(
        [{"params": rest, "lr": 1.0}, {"params": embeddings, "lr": 0.1}]
    )
    total = 2 * ROWS // BATCH
    lrs = LRs()
    trainer = Trainer(
        model=model,
        args=_args(trial, tmp_path),
        train_dataset=Tokens(ROWS, 1),
        eval_dataset=Tokens(16, 2),
        optimizers=(optimizer, trial.scheduler(optimizer, total)),
        callbacks=[TrialCallback(trial), lrs],
    )
    trainer.train()
    expected = curve(SCHEDULE, total)
    assert [step[0] for step in lrs.lrs] == pytest.approx(expected.tolist())
    assert [step[1] for step in lrs.lrs] == pytest.approx((expected * 0.1).tolist())
    assert reporter.steps == [4, 8]


def test_a_pruned_trial_stops_training_and_raises_trial_pruned(
    hf_trial: MakeTrial, tmp_path: Path
) -> None:
    trial, reporter = hf_trial(prune_at=2, budget=TrialBudget(epochs=6))
    lrs = LRs()
    trainer = _trainer(trial, tmp_path, lrs)
    with pytest.raises(TrialPruned):
        trainer.train()
    assert reporter.steps == [4, 8]  # no report after the prune
    assert trainer.state.global_step == 8 and len(lrs.lrs) == 8  # and no update either
    trainer.evaluate()  # outside train(): not a report
    assert len(reporter.seen) == 2


def test_a_steps_budget_evaluates_evals_times(hf_trial: MakeTrial, tmp_path: Path) -> None:
    trial, reporter = hf_trial(budget=TrialBudget(steps=9, evals=3))
    assert length_arguments(trial) == {"max_steps": 9, "eval_strategy": "steps", "eval_steps": 3}
    lrs = LRs()
    trainer = _trainer(trial, tmp_path, lrs)
    trainer.train()
    assert reporter.steps == [3, 6, 9] and trainer.lr_scheduler.total_steps == 9
    assert [step[0] for step in lrs.lrs] == pytest.approx(curve(SCHEDULE, 9).tolist())


def test_a_metric_named_without_the_eval_prefix_is_found(
    hf_trial: MakeTrial, tmp_path: Path
) -> None:
    trial, reporter = hf_trial(budget=TrialBudget(epochs=1), metric="loss")
    _trainer(trial, tmp_path, LRs()).train()
    ((_, metrics),) = reporter.seen
    assert metrics["loss"] == metrics["eval_loss"]


def test_a_metric_the_evaluation_lacks_is_named(hf_trial: MakeTrial, tmp_path: Path) -> None:
    trial, _ = hf_trial(budget=TrialBudget(epochs=1), metric="eval_accuracy")
    with pytest.raises(InvalidInputError, match="gives eval_loss, epoch, not 'eval_accuracy'"):
        _trainer(trial, tmp_path, LRs()).train()
