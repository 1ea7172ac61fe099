"""Moved to :mod:`lrsearch.service.create`; re-exported here for code outside the service room
that still imports it (tests/search/test_ask.py)."""

from lrsearch.service.create import Direction, open_search, trial_budget

__all__ = ["Direction", "open_search", "trial_budget"]
