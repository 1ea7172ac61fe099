"""Study names as lookups see them: a name no spec could have created names no study.

Checked before any query, because a database may refuse the text itself (PostgreSQL rejects a
NUL byte in any text parameter), and that refusal must not read as "the database is down".
"""

from __future__ import annotations

import re

from lrsearch.errors import NotFoundError
from lrsearch.spec import NAME_PATTERN

_NAME = re.compile(NAME_PATTERN)


def known_name(name: str) -> str:
    """``name`` itself, or NotFoundError when no study can have it (it fails the spec's
    pattern: a NUL byte, a slash, a space, more than 128 characters)."""
    if _NAME.fullmatch(name) is None:
        raise NotFoundError(f"no study named {name!r}")
    return name
