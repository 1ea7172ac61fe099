"""Settings from the environment (``LRSEARCH_*``), built once at an entry point and passed down.

Nothing is read at import time: a test or a command builds ``Settings()`` (or passes values) and
hands it to the code that needs it.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORAGE_URL = "sqlite:///lrsearch.db"


class Settings(BaseSettings):
    """Where results live and how workers behave.

    ``storage_url`` is any SQLAlchemy URL; the default is a SQLite file in the current directory.
    """

    model_config = SettingsConfigDict(env_prefix="LRSEARCH_", extra="ignore")

    storage_url: str = DEFAULT_STORAGE_URL
    device: str = "cpu"
    sqlite_timeout_s: float = 60.0
    # A worker beats every heartbeat_s; a lease silent for stale_after_s belongs to a dead
    # worker: its trial is failed and run again, at most max_attempts times in all.
    heartbeat_s: float = Field(10.0, gt=0)
    stale_after_s: float = Field(45.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    # Seconds a worker keeps retrying a database that went away before it gives up.
    db_retry_s: float = Field(180.0, gt=0)
