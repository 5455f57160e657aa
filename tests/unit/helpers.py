"""Helpers shared by the unit tests (importable, unlike conftest)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

FROZEN_NOW = datetime(2026, 11, 24, 14, 6, 49, 123456, tzinfo=timezone.utc)
"""The instant ``aj_clock`` starts at."""


class FrozenClock:
    """Moves ``datetime.now`` in the payload and enqueuing modules; ``advance`` by seconds."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now = self.now + timedelta(seconds=seconds)


PAYLOAD_KEYS = [
    "job_class",
    "job_id",
    "provider_job_id",
    "queue_name",
    "priority",
    "arguments",
    "executions",
    "exception_executions",
    "locale",
    "timezone",
    "enqueued_at",
    "scheduled_at",
]
"""The Rails 8.1 payload keys, in the order they are written."""


def payload_of(record: dict[str, Any]) -> dict[str, Any]:
    """The payload part of a TestAdapter record."""
    return {key: record[key] for key in PAYLOAD_KEYS}
