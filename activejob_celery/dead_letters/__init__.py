"""Wired by init_app; implementation in progress in this change."""

from __future__ import annotations

from typing import Any


def setup(app: Any, settings: Any) -> None:
    """Connect this feature to ``app`` (called by ``init_app``)."""
