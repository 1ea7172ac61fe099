"""What is trained on: built-in tasks and the protocol for user tasks.

- ``base``: the :class:`~lrsearch.tasks.base.TensorTask` protocol and its helpers (torch).
- ``catalog``: built-in task names, metrics and options, importable without torch.
- ``digits``, ``charlm``, ``tabular``: the built-in tasks.
- ``registry``: ``load_task(name, options)`` builds a built-in or ``python:`` user task.

This package's ``__init__`` imports nothing, so ``lrsearch.tasks.catalog`` stays free of torch.
"""
