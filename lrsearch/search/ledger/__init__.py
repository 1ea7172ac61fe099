"""The trial ledger: the one storage boundary of a worker process (see ledger.py)."""

from lrsearch.search.ledger.ledger import FLUSH_S, RunningTrial, TrialLedger
from lrsearch.search.ledger.optuna_calls import LEASE_ATTR
from lrsearch.search.ledger.reaping import WORKER_LOST
from lrsearch.store.outcome import Outcome

__all__ = ["FLUSH_S", "LEASE_ATTR", "WORKER_LOST", "Outcome", "RunningTrial", "TrialLedger"]
