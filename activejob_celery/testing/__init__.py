"""Testing support: the test adapter (Rails TestHelper assertions build on it)."""

from __future__ import annotations

from .adapter import TestAdapter

__all__ = ["TestAdapter"]
