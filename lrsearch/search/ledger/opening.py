"""The trials after a search: what a trial is to them, and queueing those its count opened.

A search's baselines and confirmations open when its last own trial is counted, whoever counts
it: the worker that ran it (ledger.py) or the reaper, for a worker that died after telling
Optuna (reaping.py). Both count it in one transaction with queueing the trials that opened
(``optuna_calls.record_and_queue``), through :func:`count_and_queue`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.search.ledger import optuna_calls as oc
from lrsearch.space import baseline_attrs, baseline_count, baseline_of, tuned_baseline_configs
from lrsearch.space.baselines import BASELINE_ATTR
from lrsearch.space.confirm import (
    confirm_count,
    confirmation_attrs,
    confirmation_configs,
    confirmation_key,
)
from lrsearch.spec import SearchSpec


@dataclass(frozen=True)
class AfterSearch:
    """What a trial is to its search's baselines and confirmations: the baseline it is (None
    otherwise), how many baselines its count may open (0 for a trial outside the search),
    and how the search confirms its top trials."""

    baseline: str | None
    baselines: int
    confirming: store.Confirming

    @property
    def may_queue(self) -> bool:
        """Whether counting it may open slots or settle a row (else lrsearch's tables only,
        without Optuna's study lock)."""
        return bool(self.baselines or self.confirming.top_k or self.baseline)


def after_search(spec: SearchSpec, user_attrs: Mapping[str, Any]) -> AfterSearch:
    """What the trial with these user attributes is to the trials after the search."""
    key = confirmation_key(user_attrs)
    name = user_attrs.get(BASELINE_ATTR) if baseline_of(dict(user_attrs)) is not None else None
    own = key is None and name is None
    confirm = spec.search.confirm
    on = confirm_count(spec) > 0
    confirming = store.Confirming(
        top_k=confirm.top_k if on else 0,
        seeds=confirm.seeds if on else 0,
        key=key,
        searched=own,
    )
    return AfterSearch(
        None if name is None else str(name), baseline_count(spec) if own else 0, confirming
    )


def queue_opened(
    conn: sa.Connection, spec: SearchSpec, search_id: int, recorded: store.Recorded
) -> list[dict[str, Any]]:
    """The rows of the baselines and confirmations that counting a trial opened, written in
    the caller's transaction; the user attributes of the trials to queue with them."""
    queued: list[dict[str, Any]] = []
    if recorded.opened is not None:
        configs = tuned_baseline_configs(spec, recorded.opened.config)
        rows = [(n, c.to_dict()) for n, c in configs]
        store.add_baselines(conn, search_id, rows, recorded.opened)
        queued += [baseline_attrs(n, c) for n, c in configs]
    if recorded.confirming:
        by_number = {leader.trial_number: leader for leader in recorded.confirming}
        leaders = [(n.trial_number, n.config) for n in recorded.confirming]
        repeats = confirmation_configs(spec, leaders)
        store.add_confirmations(
            conn, search_id, [(by_number[n], i, c.to_dict()) for n, i, c in repeats]
        )
        queued += [confirmation_attrs(n, i, c) for n, i, c in repeats]
    return queued


def count_and_queue(
    engine: Engine,
    study: Callable[[], optuna.Study],
    spec: SearchSpec,
    search_id: int,
    after: AfterSearch,
    record: Callable[[sa.Connection], store.Recorded],
    also: Callable[[sa.Connection], None] | None = None,
) -> bool:
    """Count a finished trial with ``record(conn)`` (then ``also(conn)``, in the same
    transaction) and queue what its count opened; False when the lease was reaped meanwhile.

    A trial whose count can open or settle nothing (``after.may_queue`` false) is counted in
    lrsearch's tables alone, without Optuna's study lock.
    """

    def write(conn: sa.Connection) -> list[dict[str, Any]] | None:
        recorded = record(conn)
        if not recorded.recorded:
            return None
        if also is not None:
            also(conn)
        return queue_opened(conn, spec, search_id, recorded)

    if not after.may_queue:
        with store.transaction(engine) as conn:
            return write(conn) is not None
    return oc.record_and_queue(study(), write)
