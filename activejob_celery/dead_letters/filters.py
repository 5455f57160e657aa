"""Filters for listing dead letters, and the time expressions operators type (``2h``, ``7d``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ..core import parse_time
from ..errors import ConfigurationError
from ..failures import REASONS
from .record import now

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclasses.dataclass(frozen=True)
class Filters:
    """What ``store.list(**filters)`` keeps; an unset filter keeps everything.

    Class names match in full (``shop.jobs.GuestsCleanupJob``) or by their last part
    (``GuestsCleanupJob``), for job classes and error classes alike.

    Example:
        >>> Filters.build(reason="exhausted").matches({"reason": "exhausted"})
        True
    """

    job_class: str | None = None
    queue_name: str | None = None
    error_class: str | None = None
    reason: str | None = None
    since: float | None = None

    @classmethod
    def build(
        cls,
        *,
        job_class: str | None = None,
        queue_name: str | None = None,
        error_class: str | None = None,
        reason: str | None = None,
        since: datetime | timedelta | float | None = None,
    ) -> Filters:
        """Check and normalise filter values (``since`` becomes epoch seconds)."""
        if reason is not None and reason not in REASONS:
            raise ConfigurationError(f"reason={reason!r}; use one of {', '.join(REASONS)}")
        return cls(
            job_class=job_class,
            queue_name=queue_name,
            error_class=error_class,
            reason=reason,
            since=None if since is None else cutoff_time(since),
        )

    @property
    def needs_summary(self) -> bool:
        """Whether matching needs each entry's summary (``since`` alone uses the index)."""
        return any(
            value is not None
            for value in (self.job_class, self.queue_name, self.error_class, self.reason)
        )

    def matches(self, summary: Mapping[str, Any]) -> bool:
        """Whether one record (its summary dict) passes every filter."""
        if self.reason is not None and summary.get("reason") != self.reason:
            return False
        if self.queue_name is not None and summary.get("queue_name") != self.queue_name:
            return False
        if self.job_class is not None and not name_matches(
            self.job_class, summary.get("job_class")
        ):
            return False
        return self.error_class is None or name_matches(
            self.error_class, summary.get("error_class")
        )


def name_matches(wanted: str, actual: object) -> bool:
    """``actual`` is ``wanted``, or its last dotted part is."""
    if not isinstance(actual, str):
        return False
    return actual == wanted or actual.rsplit(".", 1)[-1] == wanted


def cutoff_time(value: datetime | timedelta | float | int) -> float:
    """Epoch seconds for a datetime (naive = UTC), a timedelta back from now, or seconds back.

    Example:
        >>> cutoff_time(datetime(2026, 1, 1, tzinfo=timezone.utc))
        1767225600.0
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, timedelta):
        return now().timestamp() - value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{value!r} is not a datetime, a timedelta or seconds")
    return now().timestamp() - float(value)


def parse_when(text: str) -> datetime | timedelta:
    """An operator's time: a duration back from now, or an ISO 8601 moment.

    Durations are ``90s``, ``15m``, ``2h``, ``7d``, ``1w``; moments ``2026-11-24`` or
    ``2026-11-24T14:00:00Z`` (naive means UTC).

    Example:
        >>> parse_when("2h")
        datetime.timedelta(seconds=7200)
    """
    match = _DURATION.match(text)
    if match:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
    try:
        return parse_time(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"{text!r} is neither a duration (90s, 15m, 2h, 7d, 1w) nor an ISO 8601 time"
        ) from None
