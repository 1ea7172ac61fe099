"""Settings from the environment (``LRSEARCH_*``), built once at an entry point and passed down.

Nothing is read at import time: a test or a command builds ``Settings()`` (or passes values) and
hands it to the code that needs it.
"""

from __future__ import annotations

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
