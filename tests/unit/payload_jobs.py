"""The jobs behind the golden payloads in ``tests/payloads/``; their names are fixed on purpose."""

from __future__ import annotations

import enum
import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from activejob_celery import ApplicationJob, GlobalID, queue_as, queue_with_priority

JOB_ID = "7d8f2d4e-3a65-4c8e-9d3b-2f1e0c9b8a71"
PROVIDER_JOB_ID = "c0ffee00-1234-4abc-8def-0123456789ab"


class Status(enum.Enum):
    """An enum argument."""

    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True)
class Guest:
    """A record that travels as a global id."""

    id: int

    def to_global_id(self) -> GlobalID:
        """The record's reference."""
        return GlobalID("shop", "Guest", self.id)


class GoldenJob(ApplicationJob, abstract=True):
    """Runs nothing; the payload is what matters."""

    def perform(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""


class SimpleJob(GoldenJob):
    job_name = "golden.SimpleJob"


class KeywordJob(GoldenJob):
    job_name = "golden.KeywordJob"


class TaggedJob(GoldenJob):
    job_name = "golden.TaggedJob"


class GuestJob(GoldenJob):
    job_name = "golden.GuestJob"


class RoutedJob(GoldenJob):
    job_name = "golden.RoutedJob"
    queue_as("reports")
    queue_with_priority(2)


def _simple() -> tuple[SimpleJob, dict[str, Any]]:
    return SimpleJob(42, "text", 1.5, None, True, [1, [2, "three"]], {"a": "b", "n": {"m": 1}}), {}


def _keywords() -> tuple[KeywordJob, dict[str, Any]]:
    return KeywordJob("report", notify=True, recipients=["ops@example.com"], options={"x": 1}), {}


def _tagged() -> tuple[TaggedJob, dict[str, Any]]:
    return (
        TaggedJob(
            datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=timezone(timedelta(hours=-3))),
            datetime(2026, 3, 4, 5, 6, 7),
            datetime(2026, 7, 1, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo")),
            date(2026, 2, 28),
            time(7, 8, 9, 10),
            time(23, 0, tzinfo=timezone.utc),
            timedelta(days=1, seconds=2, microseconds=3),
            Decimal("19.99"),
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            math.inf,
            -math.inf,
            math.nan,
            Status.ACTIVE,
            (1, "two", (3,)),
            {3, 1, 2},
            frozenset({5}),
            {1: "one", (2, 3): "pair"},
            {"_aj_globalid": "user data, not a reference"},
            when=date(2026, 12, 24),
        ),
        {},
    )


def _guest() -> tuple[GuestJob, dict[str, Any]]:
    return GuestJob(Guest(42), guests=[Guest(7), Guest(8)]), {}


def _routed() -> tuple[RoutedJob, dict[str, Any]]:
    job = RoutedJob("monthly")
    job.executions = 3
    job.exception_executions = {"[TimeoutError]": 2}
    job.locale = "fr"
    return job, {"wait_until": datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)}


CASES = {
    "simple_args": _simple,
    "kwargs": _keywords,
    "tagged_serializers": _tagged,
    "global_id": _guest,
    "queue_priority_scheduled": _routed,
}
"""Golden file stem -> builder returning (job, set() options)."""
