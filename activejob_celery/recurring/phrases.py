"""Natural schedule phrases ("every day at 2am") translated into cron fields or intervals."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DAYS = {
    "sunday": 0, "sun": 0, "monday": 1, "mon": 1, "tuesday": 2, "tue": 2, "tues": 2,
    "wednesday": 3, "wed": 3, "thursday": 4, "thu": 4, "thur": 4, "thurs": 4,
    "friday": 5, "fri": 5, "saturday": 6, "sat": 6,
}  # fmt: skip
_DAY = "|".join(sorted((*_DAYS, "day", "weekday", "weekend"), key=len, reverse=True))
_TIME = r"noon|midnight|\d{1,2}(?::\d{2})?\s*(?:am|pm)?"
_TIMES = rf"(?:{_TIME})(?:\s*(?:,\s*(?:and\s+)?|\band\s+)(?:{_TIME}))*"
_AT = rf"(?:\s+at\s+(?P<time>{_TIMES}))?"

_UNIT_WORDS = {
    "second": "second", "seconds": "second", "sec": "second", "secs": "second", "s": "second",
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute", "m": "minute",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour", "h": "hour",
    "day": "day", "days": "day", "d": "day", "week": "week", "weeks": "week",
    "month": "month", "months": "month", "year": "year", "years": "year",
}  # fmt: skip
_UNIT = "|".join(sorted(_UNIT_WORDS, key=len, reverse=True))
_EVERY_N = re.compile(rf"every\s+(?P<n>\d+)?\s*(?P<unit>{_UNIT})")
_ON_DAYS = re.compile(
    rf"every\s+(?P<days>(?:{_DAY})(?:\s*(?:,|\band\b|\bor\b)\s*(?:{_DAY}))*){_AT}"
)
_MONTHLY = re.compile(
    rf"every\s+(?P<dom>\d{{1,2}})(?:st|nd|rd|th)\s+(?:day\s+)?of\s+(?:the\s+|every\s+)?month{_AT}"
)
UNION = " | "
"""Joins the cron lines of a phrase whose times do not share their minutes."""
_CLOCK = re.compile(r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<half>am|pm)?")

# Phrases of one unit run on the clock, as Fugit (Solid Queue, GoodJob) turns them into cron.
_UNIT_CRON = {"minute": "* * * * *", "hour": "0 * * * *", "day": "0 0 * * *",
              "week": "0 0 * * 0", "month": "0 0 1 * *", "year": "0 0 1 1 *"}  # fmt: skip
_STEP_CRON = {"minute": ("{step} * * * *", 59), "hour": ("0 {step} * * *", 23),
              "day": ("0 0 {step} * *", 31), "month": ("0 0 1 {step} *", 12)}  # fmt: skip


@dataclass(frozen=True)
class Translation:
    """A phrase as Celery can run it: five cron fields, or an interval in seconds.

    Example:
        >>> translate("every day at 2am")
        Translation(cron='0 2 * * *', every=None)
    """

    cron: str | None = None
    every: float | None = None


class PhraseError(ValueError):
    """The phrase looks like a schedule phrase but a number in it is out of range."""


def translate(phrase: str) -> Translation | None:
    """Translate a lower-cased phrase; None when it is not one of the supported forms.

    Raises:
        PhraseError: a supported form with an impossible number ("every 75 minutes",
            "every day at 25:00", "every 32nd of month").

    Example:
        >>> translate("every 15 minutes").cron
        '*/15 * * * *'
        >>> translate("every 30 seconds").every
        30.0
    """
    text = " ".join(phrase.split())
    match = _EVERY_N.fullmatch(text)
    if match:
        return _every_n(match.group("n"), _UNIT_WORDS[match.group("unit")])
    match = _ON_DAYS.fullmatch(text)
    if match:
        return _lines(match.group("time"), f"* * {_weekdays(match.group('days'))}")
    match = _MONTHLY.fullmatch(text)
    if match:
        day = int(match.group("dom"))
        if not 1 <= day <= 31:
            raise PhraseError(f"day of month {day} is not 1-31")
        return _lines(match.group("time"), f"{day} * *")
    return None


def _every_n(count: str | None, unit: str) -> Translation:
    n = 1 if count is None else int(count)
    if n < 1:
        raise PhraseError(f"every {n} {unit}s: the count must be at least 1")
    if unit == "second":
        return Translation(every=float(n))
    if n == 1:
        return Translation(cron=_UNIT_CRON[unit])
    if unit not in _STEP_CRON:
        raise PhraseError(f"every {n} {unit}s cannot be written as cron; use a cron line")
    template, largest = _STEP_CRON[unit]
    if n > largest:
        bigger = {"minute": "hours", "hour": "days", "day": "a cron line", "month": "a cron line"}
        raise PhraseError(f"every {n} {unit}s: the count must be 1-{largest}; use {bigger[unit]}")
    return Translation(cron=template.format(step=f"*/{n}"))


def _weekdays(days: str) -> str:
    numbers: set[int] = set()
    for name in re.split(r"\s*(?:,|\band\b|\bor\b)\s*", days):
        if name == "weekday":
            numbers.update(range(1, 6))
        elif name == "weekend":
            numbers.update((0, 6))
        elif name == "day":
            numbers.update(range(7))
        elif name:
            numbers.add(_DAYS[name])
    return "*" if len(numbers) == 7 else ",".join(str(day) for day in sorted(numbers))


def _clocks(text: str | None) -> list[tuple[str, str]]:
    """The (minute, hour) cron fields of one or several times, as few pairs as possible.

    Times that share their minutes make one pair ("9am, 3pm and 9pm": ``("0", "9,15,21")``);
    others make one pair per minute ("9:30am and 5pm": ``("30", "9")``, ``("0", "17")``),
    ordered by the first hour of each.
    """
    times = {_clock(part) for part in re.split(r"\s*(?:,|\band\b)\s*", text or "") if part}
    times = times or {_clock(None)}
    minutes = sorted({minute for minute, _hour in times})
    hours = sorted({hour for _minute, hour in times})
    if len(minutes) * len(hours) == len(times):
        return [(",".join(map(str, minutes)), ",".join(map(str, hours)))]
    groups = {m: sorted(h for minute, h in times if minute == m) for m in minutes}
    ordered = sorted(groups.items(), key=lambda item: (item[1][0], item[0]))
    return [(str(minute), ",".join(map(str, hours))) for minute, hours in ordered]


def _lines(text: str | None, days: str) -> Translation:
    """One cron line per (minute, hours) pair, joined with `` | `` (see :data:`UNION`)."""
    return Translation(cron=UNION.join(f"{m} {h} {days}" for m, h in _clocks(text)))


def _clock(text: str | None) -> tuple[int, int]:
    """(minute, hour) of "2am", "2:30 pm", "14:30", "noon", "midnight"; no time is midnight."""
    if text is None or text == "midnight":
        return 0, 0
    if text == "noon":
        return 0, 12
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise PhraseError(f"{text!r} is not a time of day")
    hour, minute, half = (
        int(match.group("hour")),
        int(match.group("minute") or 0),
        match.group("half"),
    )
    if minute > 59:
        raise PhraseError(f"{text!r}: minutes must be 00-59")
    if half is None:
        if hour > 23:
            raise PhraseError(f"{text!r}: hours must be 0-23 (or 1-12 with am/pm)")
        return minute, hour
    if not 1 <= hour <= 12:
        raise PhraseError(f"{text!r}: with am/pm the hour must be 1-12")
    return minute, hour % 12 + (12 if half == "pm" else 0)
