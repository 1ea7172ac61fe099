"""The HTTP surface: ``create_app(settings)``; never imports torch."""

from lrsearch.api.app import create_app

__all__ = ["create_app"]
