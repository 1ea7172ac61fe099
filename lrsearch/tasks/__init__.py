"""What is trained on: the built-in tasks.

- ``digits``, ``charlm``, ``tabular``: the built-in tasks (their names, options and metrics are
  data in ``lrsearch.spec.catalog``, importable without torch).
- ``registry``: ``load_task(name, options)`` builds a built-in or ``python:`` user task.
- ``base``: re-exports :class:`~lrsearch.train.task.TensorTask` for user task factories.

This package's ``__init__`` imports nothing, so naming a task module loads only that task.
"""
