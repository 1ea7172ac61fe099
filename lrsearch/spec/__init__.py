"""The job description: SearchSpec, parsed and validated once at the edge, and the task catalog.

Torch-free and Optuna-free: the CLI, the HTTP service and the agents all read a spec through
here, so a bad field gets the same one-line error everywhere, task options included.
"""

from lrsearch.spec.catalog import (
    BUILTIN_TASKS,
    USER_TASK_PREFIX,
    TaskInfo,
    TaskOption,
    check_choice,
    check_fraction,
    check_int,
    check_path,
    check_str,
    check_task_name,
    check_task_options,
    option_field,
)
from lrsearch.spec.search_spec import (
    NAME_PATTERN,
    Budget,
    Confirm,
    Direction,
    SearchOptions,
    SearchSpec,
    Space,
    input_error,
    load_spec_file,
    parse_spec,
)

__all__ = [
    "BUILTIN_TASKS",
    "NAME_PATTERN",
    "USER_TASK_PREFIX",
    "Budget",
    "Confirm",
    "Direction",
    "SearchOptions",
    "SearchSpec",
    "Space",
    "TaskInfo",
    "TaskOption",
    "check_choice",
    "check_fraction",
    "check_int",
    "check_path",
    "check_str",
    "check_task_name",
    "check_task_options",
    "input_error",
    "load_spec_file",
    "option_field",
    "parse_spec",
]
