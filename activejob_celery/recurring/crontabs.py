"""Celery crontabs that carry their own time zone, one line or several ("9:30am and 5pm")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab

from ..errors import ConfigurationError

_ALL_HOURS = set(range(24))


class ZonedCrontab(crontab):  # type: ignore[misc]
    """Celery's crontab evaluated in its own IANA time zone, safe across DST changes.

    Celery's crontab takes the app's time zone for every entry; this one carries ``zone``
    (None keeps the app's). Around a DST change it runs each matching wall-clock time once:
    a time the clock skips runs when the clock jumps over it (02:30 runs at 03:30, as Rails'
    ``Time.zone.local`` maps it), a repeated time runs on its first pass only, and entries
    whose hour field is ``*`` keep running through the repeated hour (as cron does).

    Example:
        >>> nightly = ZonedCrontab(minute=0, hour=2, zone="America/New_York")
        >>> nightly.next_after(datetime(2024, 5, 1, 12, tzinfo=timezone.utc)).isoformat()
        '2024-05-02T06:00:00+00:00'
    """

    def __init__(self, *fields: Any, zone: str | None = None, **kwargs: Any) -> None:
        super().__init__(*fields, **kwargs)
        self.zone = zone

    @property
    def tz(self) -> tzinfo:
        """The zone the cron fields are read in."""
        return ZoneInfo(self.zone) if self.zone else self.app.timezone

    def next_after(self, last_run_at: datetime) -> datetime:
        """The first run strictly after ``last_run_at``, as an aware UTC datetime.

        Example:
            >>> every_15 = ZonedCrontab(minute="*/15")
            >>> every_15.next_after(datetime(2024, 1, 1, 9, 7, tzinfo=timezone.utc)).isoformat()
            '2024-01-01T09:15:00+00:00'
        """
        last = self.maybe_make_aware(last_run_at).astimezone(self.tz)
        after = last.astimezone(timezone.utc)
        found = self._first_run(last, after)
        if self.hour == _ALL_HOURS and last.fold == 0 and _passes(last)[1] is not None:
            # `last` is on the first pass of a repeated hour: that hour's times come again.
            start = last.replace(second=0, microsecond=0)
            while _passes(start - timedelta(minutes=1))[1] is not None:
                start -= timedelta(minutes=1)
            found = min(found, self._first_run(start - timedelta(microseconds=1), after))
        return found

    def _first_run(self, wall: datetime, after: datetime) -> datetime:
        for _ in range(2000):
            start, delta, _now = self.remaining_delta(wall)
            wall = start + delta
            first, second = _passes(wall)
            if first > after:
                return first
            if second is not None and second > after and self.hour == _ALL_HOURS:
                return second
        raise ConfigurationError(f"{self!r} never runs")  # unreachable for valid fields

    def remaining_estimate(self, last_run_at: datetime, ffwd: Any = None) -> timedelta:
        """Time from now until the run after ``last_run_at`` (what beat and RedBeat ask).

        ``ffwd`` is only there to keep Celery's signature.
        """
        now: datetime = self.maybe_make_aware(self.now())
        return self.next_after(last_run_at) - now

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ZonedCrontab):
            return bool(super().__eq__(other)) and other.zone == self.zone
        return NotImplemented

    def __hash__(self) -> int:
        return hash((repr(self), self.zone))

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} {self.zone or 'app time zone'}>"

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self._orig_minute, self._orig_hour, self._orig_day_of_week,
                  self._orig_day_of_month, self._orig_month_of_year)  # fmt: skip
        return _rebuild_crontab, (fields, self.zone)


def _rebuild_crontab(fields: tuple[Any, ...], zone: str | None) -> ZonedCrontab:
    return ZonedCrontab(*fields, zone=zone)


class UnionCrontab(ZonedCrontab):
    """Several cron lines as one schedule, due at each line's times ("at 9:30am and 5pm").

    RedBeat stores only the first line (it knows plain crontabs); beat rebuilds the whole
    schedule from the entry's stored text, as for every entry of this package.

    Example:
        >>> twice = UnionCrontab(("30", "9", "*", "*", "*"), ("0", "17", "*", "*", "*"))
        >>> twice.next_after(datetime(2024, 5, 1, 10, tzinfo=timezone.utc)).isoformat()
        '2024-05-01T17:00:00+00:00'
    """

    def __init__(self, *lines: tuple[Any, ...], zone: str | None = None, app: Any = None) -> None:
        super().__init__(*lines[0], zone=zone, app=app)
        self.lines = lines
        self.parts = tuple(ZonedCrontab(*fields, zone=zone, app=app) for fields in lines)

    def next_after(self, last_run_at: datetime) -> datetime:
        """The first run of any line strictly after ``last_run_at``, in UTC."""
        for part in self.parts:
            part.app = self.app  # beat sets the app on the schedule it holds
        return min(part.next_after(last_run_at) for part in self.parts)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, UnionCrontab):
            return other.parts == self.parts
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.parts)

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.parts))

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_union, (self.lines, self.zone)


def _rebuild_union(lines: tuple[tuple[Any, ...], ...], zone: str | None) -> UnionCrontab:
    return UnionCrontab(*lines, zone=zone)


def _passes(wall: datetime) -> tuple[datetime, datetime | None]:
    """The UTC instants of a wall time: its first pass, and a second one in a repeated hour.

    A wall time the clock skips has ``fold=0`` map to the offset before the change, that is
    one gap later (02:30 -> 03:30 EDT); a repeated one has two passes, ``fold=0`` first.
    """
    first = wall.replace(fold=0).astimezone(timezone.utc)
    other = wall.replace(fold=1).astimezone(timezone.utc)
    return first, (other if other > first else None)
