"""Who may ask for what when a search is created: the machine's own user, or an HTTP client.

The CLI runs as the machine's user: any ``python:`` module, objective or command, any data
file. Over HTTP the server's configuration decides (DESIGN.md: the server never lets a client
choose code to run or files to read beyond what it allows): ``python:`` tasks and objectives
only from LRSEARCH_ALLOWED_TASK_MODULES, with their metric and direction named in the spec (the
server cannot import them to learn it); a command only as the name of one of the server's
LRSEARCH_COMMAND_TEMPLATES (never an argv, a working directory or environment variables of
the client's: those choose the program); and a built-in task's data file only inside one of
LRSEARCH_DATA_ROOTS, after resolving symlinks and ``..``. Messages never quote a file's
contents nor where a symlink points.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError
from lrsearch.spec import BUILTIN_TASKS, USER_TASK_PREFIX, Direction, SearchSpec, option_field

# Loads a task (outside this process) and answers its metric and direction.
TaskProbe = Callable[[SearchSpec], tuple[str, Direction]]
TEMPLATES_SETTING = "LRSEARCH_COMMAND_TEMPLATES"


@dataclass(frozen=True)
class CommandTemplate:
    """A command the server's operator allows clients to run by name."""

    command: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def load_command_templates(setting: str) -> dict[str, CommandTemplate]:
    """LRSEARCH_COMMAND_TEMPLATES: a JSON object, or the path of a TOML or JSON file, mapping
    each name to ``{command = [...], cwd = "...", env = {...}}``. Empty: no templates.

    >>> load_command_templates('{"mnist": {"command": ["python", "train.py"]}}')["mnist"].command
    ('python', 'train.py')
    """
    text = setting.strip()
    if not text:
        return {}
    try:
        if text.startswith("{"):
            data: Any = json.loads(text)
        else:
            raw = Path(text).read_text(encoding="utf-8")
            data = tomllib.loads(raw) if text.endswith(".toml") else json.loads(raw)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(TEMPLATES_SETTING, f"cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(TEMPLATES_SETTING, "must map names to templates")
    return {str(name): _template(str(name), value) for name, value in data.items()}


def _template(name: str, value: Any) -> CommandTemplate:
    where = f"{TEMPLATES_SETTING}.{name}"
    command = value.get("command") if isinstance(value, dict) else None
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise InvalidInputError(where, "needs command = a non-empty list of strings")
    cwd, env = value.get("cwd"), value.get("env", {})
    if cwd is not None and not isinstance(cwd, str):
        raise InvalidInputError(f"{where}.cwd", "must be a string")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise InvalidInputError(f"{where}.env", "must map names to strings")
    return CommandTemplate(tuple(command), cwd, {str(k): v for k, v in env.items()})


@dataclass(frozen=True)
class SubmitPolicy:
    """What a creator may name; ``remote`` is an HTTP client, else the machine's own user."""

    remote: bool
    allowed_modules: frozenset[str] = frozenset()
    data_roots: tuple[str, ...] = ()
    probe: TaskProbe | None = field(default=None, compare=False)
    templates: Mapping[str, CommandTemplate] = field(default_factory=dict, compare=False)

    @classmethod
    def local(
        cls, probe: TaskProbe | None = None, templates: Mapping[str, CommandTemplate] | None = None
    ) -> SubmitPolicy:
        """The CLI: every module, command and file; tasks the catalog cannot check go to
        ``probe``; a command given by name comes from ``templates``."""
        return cls(remote=False, probe=probe, templates=templates or {})

    @classmethod
    def http(cls, settings: Settings) -> SubmitPolicy:
        """An HTTP client: what the server's settings allow."""
        return cls(
            remote=True,
            allowed_modules=settings.allowed_modules,
            data_roots=settings.data_root_paths,
            templates=load_command_templates(settings.command_templates),
        )

    def admit(self, spec: SearchSpec) -> SearchSpec:
        """``spec`` if this creator may submit it, with data paths resolved (HTTP) and a
        command named by template replaced by the template's; else an InvalidInputError naming
        the field."""
        if self.remote:
            if spec.task is not None and spec.task.startswith(USER_TASK_PREFIX):
                self._check_module("task", spec.task[len(USER_TASK_PREFIX) :])
            if spec.objective is not None:
                self._check_module("objective", spec.objective)
            if spec.command is not None:
                self._check_command(spec)
        if isinstance(spec.command, str):
            spec = self._from_template(spec.command, spec)
        return self._resolve_paths(spec) if self.remote else spec

    def metric_of(self, spec: SearchSpec) -> tuple[str, Direction]:
        """The metric and direction, without importing the task in this process.

        Locally, a task the catalog cannot check alone (a ``python:`` task, or a built-in one
        that reads a file) is loaded once by ``probe``, in a child process, so a bad module or
        file fails here, before any agent starts. Otherwise the catalog answers.
        """
        if spec.task is None:  # an objective or a command: the spec names both
            return spec.resolved_metric()
        user_task = spec.task.startswith(USER_TASK_PREFIX)
        if not self.remote and self.probe is not None and (user_task or _reads_files(spec)):
            return self.probe(spec)
        if self.remote and user_task:
            return _named_metric(spec)
        return spec.resolved_metric()

    def _check_module(self, field_name: str, target: str) -> None:
        module = target.partition(":")[0]
        if module not in self.allowed_modules:
            allowed = ", ".join(sorted(self.allowed_modules)) or "none"
            raise InvalidInputError(
                field_name,
                f"module {module!r} is not allowed on this server "
                f"(LRSEARCH_ALLOWED_TASK_MODULES allows: {allowed})",
            )

    def _check_command(self, spec: SearchSpec) -> None:
        """Over HTTP a command is a template's name; its cwd and env are the template's."""
        if not isinstance(spec.command, str):
            raise InvalidInputError(
                "command",
                "over HTTP, name one of this server's command templates "
                f"(LRSEARCH_COMMAND_TEMPLATES: {self._template_names()}), not a command line",
            )
        for key in ("cwd", "env"):
            if getattr(spec, key):
                raise InvalidInputError(key, "is set by the server's command template over HTTP")

    def _from_template(self, name: str, spec: SearchSpec) -> SearchSpec:
        template = self.templates.get(name)
        if template is None:
            raise InvalidInputError(
                "command",
                f"{name!r} is not a command template of this server "
                f"(LRSEARCH_COMMAND_TEMPLATES: {self._template_names()})",
            )
        update: dict[str, Any] = {"command": list(template.command)}
        update["cwd"] = spec.cwd or template.cwd
        update["env"] = {**template.env, **spec.env}
        return spec.model_copy(update=update)

    def _template_names(self) -> str:
        return ", ".join(sorted(self.templates)) or "none"

    def _resolve_paths(self, spec: SearchSpec) -> SearchSpec:
        info = BUILTIN_TASKS.get(spec.task or "")
        if info is None or not _reads_files(spec):
            return spec
        options = dict(spec.task_options)
        for key in info.path_options:
            if key in options:
                options[key] = inside_data_roots(option_field(key), options[key], self.data_roots)
        return spec.model_copy(update={"task_options": options})


def _reads_files(spec: SearchSpec) -> bool:
    info = BUILTIN_TASKS.get(spec.task or "")
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
