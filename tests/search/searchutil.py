"""Helpers shared by the search tests: read a search and its trials back from a database."""

from __future__ import annotations

import optuna

from lrsearch import store

SPEC_TOML = """
name = "{name}"
task = "digits-mlp"
task_options = {{ hidden = 32 }}
baselines = {baselines}
[budget]
trials = {trials}
epochs = {epochs}
[search]
sampler = "random"
seed = {seed}
pruner = "none"
[space]
families = {families}
lr = [0.01, 0.2]
optimizers = ["sgd"]
warmup = [0.0, 0.0]
"""


def spec_toml(
    name: str,
    trials: int,
    epochs: int,
    seed: int = 3,
    families: tuple[str, ...] = ("constant", "cosine", "step", "one_cycle"),
    *,
    baselines: bool = False,
) -> str:
    """A small digits-mlp spec whose trials never diverge, as TOML text (``baselines``: the
    classic baselines after the search's trials)."""
    listed = "[" + ", ".join(f'"{f}"' for f in families) + "]"
    return SPEC_TOML.format(
        name=name,
        trials=trials,
        epochs=epochs,
        seed=seed,
        families=listed,
        baselines=str(baselines).lower(),
    )


def read_search(url: str, name: str) -> store.Search:
    engine = store.make_engine(url)
    try:
        return store.get_search(engine, name)
    finally:
        engine.dispose()


def read_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=store.make_optuna_storage(url))
    return study.get_trials(deepcopy=False)
