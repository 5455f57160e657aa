"""The Rails 8.1 payload keys, written out independently of the package so tests can check it."""

from __future__ import annotations

from typing import Any

PAYLOAD_KEYS = (
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
)
"""The payload keys, in the order they are written."""


def payload_of(record: dict[str, Any]) -> dict[str, Any]:
    """The payload part of a TestAdapter record."""
    return {key: record[key] for key in PAYLOAD_KEYS}
