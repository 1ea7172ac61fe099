"""What persists: lrsearch's own tables, the Optuna storage factory, and schema upgrades."""

from lrsearch.store.engine import make_engine, make_optuna_storage
from lrsearch.store.migrate import ensure_current, require_current, upgrade
from lrsearch.store.searches import (
    Best,
    Search,
    claim_trial,
    create_search,
    find_search,
    get_best,
    get_search,
    list_searches,
    record_trial,
    release_trial,
    set_status,
)

__all__ = [
    "Best",
    "Search",
    "claim_trial",
    "create_search",
    "ensure_current",
    "find_search",
    "get_best",
    "get_search",
    "list_searches",
    "make_engine",
    "make_optuna_storage",
    "record_trial",
    "release_trial",
    "require_current",
    "set_status",
    "upgrade",
]
