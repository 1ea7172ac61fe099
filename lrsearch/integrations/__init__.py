"""Training frameworks meet the Trial: PyTorch Lightning and the Hugging Face Trainer.

Each module puts the trial's optimizer and per-update schedule where its framework expects
them, and adds one callback that reports each validation to the trial and stops training
when the search prunes it (the trial then ends PRUNED):

- :mod:`lrsearch.integrations.lightning` (``pip install 'lrsearch[lightning]'``):
  ``configure_optimizers(trial, module)``, ``TrialCallback(trial)``, ``length_arguments(trial)``.
- :mod:`lrsearch.integrations.transformers` (``pip install 'lrsearch[transformers]'``):
  ``TrialTrainer(trial, model=..., args=...)``, ``TrialCallback(trial)``,
  ``length_arguments(trial)``.

Importing this package imports neither framework; each module imports its own when imported.
"""
