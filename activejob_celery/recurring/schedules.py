"""Recurring schedules: cron lines with an optional time zone and phrases, on Celery's crontab."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab, schedule as interval_schedule

from ..errors import ConfigurationError
from .crontabs import UnionCrontab, ZonedCrontab
from .phrases import UNION, PhraseError, translate

SUPPORTED_FORMS = (
    'a cron line "MIN HOUR DAY MONTH WEEKDAY" with an optional IANA time zone '
    '("0 2 * * * America/New_York"), @hourly / @daily / @weekly / @monthly / @yearly, or a phrase: '
    '"every N seconds|minutes|hours|days", "every second|minute|hour|day|week|month", '
    '"every day at 2am", "every day at 14:30", "every monday at 9am", "every weekday at 8:15", '
    '"every 1st of month at 3am", "every day at 9am, 3pm, 9pm" (phrases also take a '
    "trailing time zone); a six-field cron line (seconds first) at second 0"
)
_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
            "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@hourly": "0 * * * *"}  # fmt: skip
_CRON_FIELD = re.compile(r"[\d*/,\-?]+|[a-z]{3}(?:[-,][a-z]{3})*", re.IGNORECASE)


@dataclass(frozen=True)
class RecurringSchedule:
    """A parsed ``schedule:``: the text as written, and a cron line or an interval.

    Example:
        >>> schedule = parse_schedule("every weekday at 8:15 Europe/Paris")
        >>> schedule.cron, schedule.zone
        ('15 8 * * 1,2,3,4,5', 'Europe/Paris')
    """

    text: str
    cron: str | None = None
    every: float | None = None
    zone: str | None = None

    def celery_schedule(self, app: Any = None) -> Any:
        """A fresh Celery schedule object (``ZonedCrontab`` or ``schedule``) for ``app``.

        Example:
            >>> parse_schedule("every 5 seconds").celery_schedule()
            <freq: 5.00 seconds>
        """
        if self.every is not None:
            return interval_schedule(timedelta(seconds=self.every), app=app)
        assert self.cron is not None
        lines = [_fields(line) for line in self.cron.split(UNION)]
        if len(lines) > 1:
            return UnionCrontab(*lines, zone=self.zone, app=app)
        return ZonedCrontab(*lines[0], zone=self.zone, app=app)

    def next_time(self, after: datetime, app: Any = None) -> datetime:
        """The run that follows a run at ``after`` (intervals count from it), in UTC.

        Example:
            >>> nightly = parse_schedule("every day at 2am")
            >>> nightly.next_time(datetime(2024, 5, 1, 3, tzinfo=timezone.utc)).isoformat()
            '2024-05-02T02:00:00+00:00'
        """
        return next_run_after(self.celery_schedule(app), after)

    def describe(self) -> str:
        """The form Celery runs: ``"30 14 * * * (Europe/Paris)"`` or ``"every 5s"``."""
        if self.every is not None:
            return f"every {self.every:g}s"
        return f"{self.cron} ({self.zone})" if self.zone else str(self.cron)


def next_run_after(celery_schedule: Any, last_run_at: datetime) -> datetime:
    """The run that follows ``last_run_at`` for a ``ZonedCrontab`` or an interval, in UTC.

    Example:
        >>> ten_seconds = parse_schedule("every 10 seconds").celery_schedule()
        >>> next_run_after(ten_seconds, datetime(2024, 5, 1, tzinfo=timezone.utc)).isoformat()
        '2024-05-01T00:00:10+00:00'
    """
    if isinstance(celery_schedule, ZonedCrontab):
        return celery_schedule.next_after(last_run_at)
    aware = celery_schedule.maybe_make_aware(last_run_at)
    return (aware + celery_schedule.run_every).astimezone(timezone.utc)  # type: ignore[no-any-return]


def parse_schedule(text: str) -> RecurringSchedule:
    """Parse a ``schedule:`` value; anything unsupported is a ConfigurationError.

    Raises:
        ConfigurationError: the text is not one of :data:`SUPPORTED_FORMS`, a number in it is
            out of range, or its time zone is unknown.

    Example:
        >>> parse_schedule("0 2 * * * America/New_York").zone
        'America/New_York'
        >>> parse_schedule("every 15 minutes").cron
        '*/15 * * * *'
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(f"schedule {text!r} is not a text; use {SUPPORTED_FORMS}")
    return _parse(text)


@lru_cache(maxsize=512)
def _parse(text: str) -> RecurringSchedule:
    words = text.split()
    zone = None
    if len(words) > 1 and _is_zone(words[-1]):
        zone = words.pop()
        if len(words) > 1 and words[-1].lower() in ("on", "in"):
            words.pop()
    body = " ".join(words).lower()
    if body in _ALIASES:
        return _cron(text, _ALIASES[body], zone)
    if body.startswith("every"):
        try:
            translation = translate(body)
        except PhraseError as error:
            raise ConfigurationError(f"schedule {text!r}: {error}") from None
        if translation is not None:
            if translation.every is not None:
                return RecurringSchedule(text, every=translation.every, zone=zone)
            return _cron(text, str(translation.cron), zone)
    elif len(words) == 5:
        return _cron(text, " ".join(words), zone)
    elif len(words) == 6 and all(_CRON_FIELD.fullmatch(word) for word in words):
        # sidekiq-cron's and Fugit's six fields start with the second: only 0 fits a minute.
        if words[0] not in ("0", "00"):
            raise ConfigurationError(
                f"schedule {text!r}: a six-field cron line starts with the second; only second "
                "0 is supported (recurring jobs run at most once a minute on a cron line; use "
                '"every N seconds" for shorter intervals)'
            )
        return _cron(text, " ".join(words[1:]), zone)
    elif len(words) == 6 and zone is None:
        raise ConfigurationError(
            f"schedule {text!r}: {words[-1]!r} is not an IANA time zone name "
            "(write it as in the tz database, e.g. America/New_York, Europe/Paris, UTC)"
        )
    raise ConfigurationError(f"schedule {text!r} is not supported; use {SUPPORTED_FORMS}")


def _fields(line: str) -> tuple[str, ...]:
    """Celery's crontab argument order from a cron line's field order."""
    minute, hour, day_of_month, month, day_of_week = line.split()
    return minute, hour, day_of_week, day_of_month, month


def _cron(text: str, lines: str, zone: str | None) -> RecurringSchedule:
    for line in lines.split(UNION):
        _check_line(text, line)
    return RecurringSchedule(text, cron=lines, zone=zone)


def _check_line(text: str, line: str) -> None:
    minute, hour, day_of_month, month, day_of_week = line.split()
    if day_of_month != "*" and day_of_week != "*":
        # cron runs when EITHER day field matches, Celery when BOTH do: refuse to guess.
        raise ConfigurationError(
            f"schedule {text!r} restricts both the day of month and the day of week; cron "
            "would run on either, Celery only on both. Use two entries, one per day field"
        )
    try:
        crontab(minute, hour, day_of_week, day_of_month, month)
    except Exception as error:  # Celery raises ValueError, TypeError or its ParseException
        raise ConfigurationError(
            f"schedule {text!r} is not a valid cron line: {error} (fields are minute 0-59, "
            "hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-6 or sun-sat)"
        ) from None


def _is_zone(name: str) -> bool:
    if name[:1].isdigit() or "*" in name or name.lower() == name:
        return False  # cron fields, "2am", "monday": never zone names, and cheap to rule out
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True
