"""Helpers shared by the unit tests (importable, unlike conftest)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.support.payloads import PAYLOAD_KEYS, payload_of  # noqa: F401 - re-exported

FROZEN_NOW = datetime(2026, 11, 24, 14, 6, 49, 123456, tzinfo=timezone.utc)
"""The instant ``aj_clock`` starts at."""


class FrozenClock:
    """Moves ``datetime.now`` in the payload and enqueuing modules; ``advance`` by seconds."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now = self.now + timedelta(seconds=seconds)
