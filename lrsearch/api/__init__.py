"""The HTTP surface: ``create_app(settings)``; never imports torch.

``create_app`` loads FastAPI (the ``server`` extra) when first used, so the wire format
(``lrsearch.api.schemas``, pydantic only) is importable without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrsearch.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from lrsearch.api.app import create_app

        return create_app
    raise AttributeError(f"module 'lrsearch.api' has no attribute {name!r}")
