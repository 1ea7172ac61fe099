"""Settings from the environment (``LRSEARCH_*``), built once at an entry point and passed down.

Nothing is read at import time: a test or a command builds ``Settings()`` (or passes values) and
hands it to the code that needs it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_STORAGE_URL = "sqlite:///lrsearch.db"
MIN_TOKEN_LENGTH = 16
# A token containing one of these is a placeholder someone forgot to replace.
PLACEHOLDER_TOKENS = frozenset(
    {"changeme", "change-me", "change_me", "changethis", "placeholder", "your-token", "xxxx"}
)


class Settings(BaseSettings):
    """Where results live and how workers behave.

    ``storage_url`` is any SQLAlchemy URL; the default is a SQLite file in the current directory.
    """

    model_config = SettingsConfigDict(env_prefix="LRSEARCH_", extra="ignore")

    storage_url: str = DEFAULT_STORAGE_URL
    sqlite_timeout_s: float = 60.0
    # A worker beats every heartbeat_s; a lease silent for stale_after_s belongs to a dead
    # worker: its trial is failed and run again, at most max_attempts times in all.
    heartbeat_s: float = Field(10.0, gt=0)
    stale_after_s: float = Field(45.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    # Seconds a worker keeps retrying a database that went away before it gives up. Longer
    # than stale_after_s on purpose: an agent that rides out a long outage may find its lease
    # reaped when the database is back; it then drops that trial (re-queued already) and goes on.
    db_retry_s: float = Field(180.0, gt=0)
    # `lrsearch search` writing to a log (not a terminal) prints a summary line this often.
    summary_s: float = Field(30.0, gt=0)
    # Each trial's LR curve, as an image optuna-dashboard shows on the trial's page (Optuna's
    # artifact store, a folder): artifact_dir, else `lrsearch-artifacts` beside a SQLite file.
    # Agents on several hosts need a folder they all share; `trial_plots=false` turns it off.
    artifact_dir: str = ""
    trial_plots: bool = True

    @property
    def artifact_path(self) -> Path | None:
        """The artifact store's folder, or None when there is none (see ``artifact_dir``)."""
        if self.artifact_dir:
            return Path(self.artifact_dir)
        url = make_url(self.storage_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(str(url.database)).resolve().parent / "lrsearch-artifacts"
        return None

    # The HTTP service. Writes need `Authorization: Bearer <api_token>`; with an empty or
    # placeholder token they are refused, unless `dev` is set (then an empty token means open).
    api_token: str = Field("", repr=False)
    dev: bool = False
    protect_reads: bool = False  # reads need the token too
    # python: tasks a client may submit over HTTP, by module (comma-separated); none by default,
    # so a client cannot make the workers import arbitrary code.
    allowed_task_modules: str = ""
    # Commands a client may name over HTTP (``command = "name"``): a JSON object, or the path
    # of a TOML or JSON file, mapping each name to {command = [argv], cwd, env}. None by
    # default, so a client cannot make the agents run a program of its choosing.
    command_templates: str = ""
    # Where each trial gets its folder (``<runs_dir>/<study>/trial-<number>``): relative to the
    # worker's working directory. A command trial's output goes to trial.log there.
    runs_dir: str = "lrsearch-runs"
    # A pruned command trial that keeps running gets SIGTERM after this many seconds, and
    # SIGKILL after as many again (to its whole process group).
    kill_grace_s: float = Field(10.0, ge=0)
    # Folders whose files a client may name as a built-in task's data file over HTTP
    # (comma-separated); none by default, so a client cannot make the agents read any file.
    data_roots: str = ""
    # Request bodies above this many bytes are refused with 413 before they are parsed.
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # LR curves of more than 100,000 updates and reports rendered at once (each holds up to
    # tens of MB while it is sent); more get 429 with Retry-After.
    render_slots: int = Field(2, ge=1)

    @property
    def allowed_modules(self) -> frozenset[str]:
        return frozenset(m.strip() for m in self.allowed_task_modules.split(",") if m.strip())

    @property
    def data_root_paths(self) -> tuple[str, ...]:
        """``data_roots`` as a tuple, in the order given (relative paths resolve in the first)."""
        return tuple(r.strip() for r in self.data_roots.split(",") if r.strip())

    def with_storage(self, storage_url: str | None) -> Settings:
        """These settings with ``storage_url`` replaced (a command's ``--storage``), if given."""
        return self.model_copy(update={"storage_url": storage_url}) if storage_url else self

    def token_problem(self) -> str | None:
        """Why ``api_token`` cannot guard writes, or None if it can."""
        token = self.api_token.strip()
        if not token:
            return "LRSEARCH_API_TOKEN is empty"
        lowered = token.lower()
        if any(word in lowered for word in PLACEHOLDER_TOKENS) or len(token) < MIN_TOKEN_LENGTH:
            return (
                f"LRSEARCH_API_TOKEN is a placeholder or shorter than {MIN_TOKEN_LENGTH} characters"
            )
        return None
