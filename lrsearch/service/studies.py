"""Reading and ending searches: list, one study, stop, delete (the best: export.py).

Searches and their best configs come from lrsearch's tables (a fixed number of indexed queries,
whatever the number of trials); Optuna's data only through its storage API.
"""

from __future__ import annotations

import contextlib

from lrsearch import store
from lrsearch.errors import ConflictError
from lrsearch.service.backend import Backend
from lrsearch.service.names import known_name

ACTIVE = ("queued", "running", "stopping")


def list_studies(
    backend: Backend, *, limit: int, offset: int
) -> tuple[list[store.SearchSummary], int]:
    """A page of studies in creation order with the total; never loads trials."""
    return store.search_page(backend.reader, limit=limit, offset=offset)


def get_study(backend: Backend, name: str) -> store.SearchSummary:
    """One study with its counts and best value (NotFoundError if there is none)."""
    return store.search_summary(backend.reader, known_name(name))


def stop_study(backend: Backend, name: str) -> store.SearchSummary:
    """No new trials start; running ones finish; then the study is done."""
    store.stop_search(backend.writer, known_name(name))
    return store.search_summary(backend.writer, name)


def delete_study(backend: Backend, name: str) -> None:
    """Remove the study from lrsearch's tables and Optuna's; an active one is a conflict."""
    search = store.get_search(backend.writer, known_name(name))
    if search.status in ACTIVE:
        raise ConflictError(
            f"study {name!r} is {search.status}: stop it (POST /v1/studies/{name}/stop) and "
            "delete it once it is done"
        )
    storage = backend.optuna_storage()
    with contextlib.suppress(KeyError):  # no Optuna study (deleted before): ours still go
        storage.delete_study(storage.get_study_id_from_name(name))
    store.delete_search(backend.writer, name)
