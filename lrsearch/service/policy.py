"""Who may ask for what when a search is created: the machine's own user, or an HTTP client.

The CLI runs as the machine's user: any ``python:`` module, any data file. Over HTTP the
server's configuration decides (DESIGN.md: the server never lets a client choose code to run or
files to read beyond what it allows): ``python:`` tasks only from LRSEARCH_ALLOWED_TASK_MODULES,
with their metric and direction named in the spec (the server cannot import them to learn it),
and a built-in task's data file only inside one of LRSEARCH_DATA_ROOTS, after resolving
symlinks and ``..``. Messages never quote a file's contents nor where a symlink points.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError
from lrsearch.spec import BUILTIN_TASKS, USER_TASK_PREFIX, Direction, SearchSpec, option_field

# Loads a task (outside this process) and answers its metric and direction.
TaskProbe = Callable[[SearchSpec], tuple[str, Direction]]


@dataclass(frozen=True)
class SubmitPolicy:
    """What a creator may name; ``remote`` is an HTTP client, else the machine's own user."""

    remote: bool
    allowed_modules: frozenset[str] = frozenset()
    data_roots: tuple[str, ...] = ()
    probe: TaskProbe | None = field(default=None, compare=False)

    @classmethod
    def local(cls, probe: TaskProbe | None = None) -> SubmitPolicy:
        """The CLI: every module and file; tasks the catalog cannot check go to ``probe``."""
        return cls(remote=False, probe=probe)

    @classmethod
    def http(cls, settings: Settings) -> SubmitPolicy:
        """An HTTP client: what the server's settings allow."""
        return cls(
            remote=True,
            allowed_modules=settings.allowed_modules,
            data_roots=settings.data_root_paths,
        )

    def admit(self, spec: SearchSpec) -> SearchSpec:
        """``spec`` if this creator may submit it, with data paths resolved (HTTP); else an
        InvalidInputError naming the field."""
        if not self.remote:
            return spec
        if spec.task.startswith(USER_TASK_PREFIX):
            self._check_module(spec)
        return self._resolve_paths(spec)

    def metric_of(self, spec: SearchSpec) -> tuple[str, Direction]:
        """The metric and direction, without importing the task in this process.

        Locally, a task the catalog cannot check alone (a ``python:`` task, or a built-in one
        that reads a file) is loaded once by ``probe``, in a child process, so a bad module or
        file fails here, before any agent starts. Otherwise the catalog answers.
        """
        user_task = spec.task.startswith(USER_TASK_PREFIX)
        if not self.remote and self.probe is not None and (user_task or _reads_files(spec)):
            return self.probe(spec)
        if self.remote and user_task:
            return _named_metric(spec)
        return spec.resolved_metric()

    def _check_module(self, spec: SearchSpec) -> None:
        module = spec.task[len(USER_TASK_PREFIX) :].partition(":")[0]
        if module not in self.allowed_modules:
            allowed = ", ".join(sorted(self.allowed_modules)) or "none"
            raise InvalidInputError(
                "task",
                f"module {module!r} is not allowed on this server "
                f"(LRSEARCH_ALLOWED_TASK_MODULES allows: {allowed})",
            )

    def _resolve_paths(self, spec: SearchSpec) -> SearchSpec:
        info = BUILTIN_TASKS.get(spec.task)
        if info is None or not _reads_files(spec):
            return spec
        options = dict(spec.task_options)
        for key in info.path_options:
            if key in options:
                options[key] = inside_data_roots(option_field(key), options[key], self.data_roots)
        return spec.model_copy(update={"task_options": options})


def _reads_files(spec: SearchSpec) -> bool:
    info = BUILTIN_TASKS.get(spec.task)
    return info is not None and any(key in spec.task_options for key in info.path_options)


def _named_metric(spec: SearchSpec) -> tuple[str, Direction]:
    """A python: task over HTTP must name both: the server cannot import it to learn them."""
    for name, value in (("metric", spec.metric), ("direction", spec.direction)):
        if value is None:
            raise InvalidInputError(name, "is required for a python: task submitted over HTTP")
    assert spec.metric is not None and spec.direction is not None
    return spec.metric, spec.direction


def inside_data_roots(field_name: str, value: object, roots: tuple[str, ...]) -> str:
    """``value`` as a real path (symlinks and ``..`` resolved) inside one of ``roots``.

    A relative path resolves against the first root. Raises InvalidInputError naming
    ``field_name``; the message names the allowed roots, never the resolved target.

    >>> inside_data_roots("task_options.path", "/etc/passwd", ("/srv/data",))
    Traceback (most recent call last):
    ...
    lrsearch.errors.InvalidInputError: task_options.path: must name a file inside this server's \
data roots (/srv/data), after resolving symlinks and '..'
    """
    if not roots:
        raise InvalidInputError(
            field_name,
            "this server allows no data files (its LRSEARCH_DATA_ROOTS is empty): "
            "use a built-in task without a file, or ask the operator for a data root",
        )
    real_roots = [os.path.realpath(root) for root in roots]
    path = value if isinstance(value, str) else ""
    if path and "\x00" not in path:
        real = os.path.realpath(os.path.join(real_roots[0], path))
        if any(real != root and os.path.commonpath([real, root]) == root for root in real_roots):
            return real
    raise InvalidInputError(
        field_name,
        f"must name a file inside this server's data roots ({', '.join(roots)}), "
        "after resolving symlinks and '..'",
    )
