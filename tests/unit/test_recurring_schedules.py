"""Recurring schedules: every phrase and cron form, next runs on fixed clocks, zones and DST."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.schedules import crontab
from hypothesis import given, settings, strategies as st

from activejob_celery import ConfigurationError
from activejob_celery.recurring import SUPPORTED_FORMS, ZonedCrontab, parse_schedule
from activejob_celery.recurring.schedules import next_run_after

UTC = timezone.utc
NY = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def ny(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=NY, fold=fold)


def runs(text: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` runs, each computed from the previous one (as beat does)."""
    schedule, found = parse_schedule(text), []
    for _ in range(count):
        after = schedule.next_time(after)
        found.append(after)
    return found


# Wednesday 2024-05-15 10:17:30 UTC: a fixed clock for every case below.
NOW = utc(2024, 5, 15, 10, 17, 30)

PHRASES = [
    ("every second", None, 1.0, [utc(2024, 5, 15, 10, 17, 31), utc(2024, 5, 15, 10, 17, 32)]),
    ("every 1 second", None, 1.0, [utc(2024, 5, 15, 10, 17, 31), utc(2024, 5, 15, 10, 17, 32)]),
    ("every 30 seconds", None, 30.0, [utc(2024, 5, 15, 10, 18), utc(2024, 5, 15, 10, 18, 30)]),
    ("every 15s", None, 15.0, [utc(2024, 5, 15, 10, 17, 45), utc(2024, 5, 15, 10, 18)]),
    ("every minute", "* * * * *", None, [utc(2024, 5, 15, 10, 18), utc(2024, 5, 15, 10, 19)]),
    ("every 1 minute", "* * * * *", None, [utc(2024, 5, 15, 10, 18), utc(2024, 5, 15, 10, 19)]),
    (
        "every 15 minutes",
        "*/15 * * * *",
        None,
        [utc(2024, 5, 15, 10, 30), utc(2024, 5, 15, 10, 45)],
    ),
    ("every 5m", "*/5 * * * *", None, [utc(2024, 5, 15, 10, 20), utc(2024, 5, 15, 10, 25)]),
    ("every hour", "0 * * * *", None, [utc(2024, 5, 15, 11), utc(2024, 5, 15, 12)]),
    ("every 1 hour", "0 * * * *", None, [utc(2024, 5, 15, 11), utc(2024, 5, 15, 12)]),
    ("every 6 hours", "0 */6 * * *", None, [utc(2024, 5, 15, 12), utc(2024, 5, 15, 18)]),
    ("every 3h", "0 */3 * * *", None, [utc(2024, 5, 15, 12), utc(2024, 5, 15, 15)]),
    ("every day", "0 0 * * *", None, [utc(2024, 5, 16), utc(2024, 5, 17)]),
    ("every 2 days", "0 0 */2 * *", None, [utc(2024, 5, 17), utc(2024, 5, 19)]),
    ("every week", "0 0 * * 0", None, [utc(2024, 5, 19), utc(2024, 5, 26)]),
    ("every month", "0 0 1 * *", None, [utc(2024, 6, 1), utc(2024, 7, 1)]),
    ("every 3 months", "0 0 1 */3 *", None, [utc(2024, 7, 1), utc(2024, 10, 1)]),
    ("every year", "0 0 1 1 *", None, [utc(2025, 1, 1), utc(2026, 1, 1)]),
    ("every day at 2am", "0 2 * * *", None, [utc(2024, 5, 16, 2), utc(2024, 5, 17, 2)]),
    ("every day at 8am", "0 8 * * *", None, [utc(2024, 5, 16, 8), utc(2024, 5, 17, 8)]),
    (
        "every day at 14:30",
        "30 14 * * *",
        None,
        [utc(2024, 5, 15, 14, 30), utc(2024, 5, 16, 14, 30)],
    ),
    (
        "every day at 2:30 pm",
        "30 14 * * *",
        None,
        [utc(2024, 5, 15, 14, 30), utc(2024, 5, 16, 14, 30)],
    ),
    ("every day at 12am", "0 0 * * *", None, [utc(2024, 5, 16), utc(2024, 5, 17)]),
    ("every day at noon", "0 12 * * *", None, [utc(2024, 5, 15, 12), utc(2024, 5, 16, 12)]),
    ("every day at midnight", "0 0 * * *", None, [utc(2024, 5, 16), utc(2024, 5, 17)]),
    ("every monday at 9am", "0 9 * * 1", None, [utc(2024, 5, 20, 9), utc(2024, 5, 27, 9)]),
    ("every wednesday at 10:00", "0 10 * * 3", None, [utc(2024, 5, 22, 10), utc(2024, 5, 29, 10)]),
    ("every fri at 5pm", "0 17 * * 5", None, [utc(2024, 5, 17, 17), utc(2024, 5, 24, 17)]),
    ("every sunday", "0 0 * * 0", None, [utc(2024, 5, 19), utc(2024, 5, 26)]),
    (
        "every weekday at 8:15",
        "15 8 * * 1,2,3,4,5",
        None,
        [utc(2024, 5, 16, 8, 15), utc(2024, 5, 17, 8, 15), utc(2024, 5, 20, 8, 15)],
    ),
    (
        "every weekend at 10am",
        "0 10 * * 0,6",
        None,
        [utc(2024, 5, 18, 10), utc(2024, 5, 19, 10), utc(2024, 5, 25, 10)],
    ),
    (
        "every monday and thursday at 7pm",
        "0 19 * * 1,4",
        None,
        [utc(2024, 5, 16, 19), utc(2024, 5, 20, 19)],
    ),
    ("every 1st of month at 3am", "0 3 1 * *", None, [utc(2024, 6, 1, 3), utc(2024, 7, 1, 3)]),
    (
        "every 15th of the month at noon",
        "0 12 15 * *",
        None,
        [utc(2024, 5, 15, 12), utc(2024, 6, 15, 12)],
    ),
    ("Every Day At 2AM", "0 2 * * *", None, [utc(2024, 5, 16, 2), utc(2024, 5, 17, 2)]),
]


@pytest.mark.parametrize(
    ("text", "cron", "every", "expected"), PHRASES, ids=[p[0] for p in PHRASES]
)
def test_every_phrase_translates_and_runs_on_a_fixed_clock(text, cron, every, expected):
    schedule = parse_schedule(text)
    assert (schedule.cron, schedule.every, schedule.zone) == (cron, every, None)
    assert runs(text, NOW, len(expected)) == expected


CRON_LINES = [
    ("*/30 * * * *", [utc(2024, 5, 15, 10, 30), utc(2024, 5, 15, 11)]),
    ("0 * * * *", [utc(2024, 5, 15, 11), utc(2024, 5, 15, 12)]),
    ("0 2 * * *", [utc(2024, 5, 16, 2), utc(2024, 5, 17, 2)]),
    ("0 8 * * 1", [utc(2024, 5, 20, 8), utc(2024, 5, 27, 8)]),
    ("0 8 * * mon", [utc(2024, 5, 20, 8), utc(2024, 5, 27, 8)]),
    (
        "*/20 9-17 * * mon-fri",
        [utc(2024, 5, 15, 10, 20), utc(2024, 5, 15, 10, 40), utc(2024, 5, 15, 11)],
    ),
    ("5,35 14 * * *", [utc(2024, 5, 15, 14, 5), utc(2024, 5, 15, 14, 35), utc(2024, 5, 16, 14, 5)]),
    ("0 0 1,15 * *", [utc(2024, 6, 1), utc(2024, 6, 15)]),
    ("0 12 * jan,jul *", [utc(2024, 7, 1, 12), utc(2024, 7, 2, 12)]),
    ("0 6 29 2 *", [utc(2028, 2, 29, 6)]),
    ("@hourly", [utc(2024, 5, 15, 11), utc(2024, 5, 15, 12)]),
    ("@daily", [utc(2024, 5, 16), utc(2024, 5, 17)]),
    ("@midnight", [utc(2024, 5, 16)]),
    ("@weekly", [utc(2024, 5, 19), utc(2024, 5, 26)]),
    ("@monthly", [utc(2024, 6, 1), utc(2024, 7, 1)]),
    ("@yearly", [utc(2025, 1, 1)]),
    ("@annually", [utc(2025, 1, 1)]),
    ("0  2  *  *  *", [utc(2024, 5, 16, 2)]),
]


@pytest.mark.parametrize(("text", "expected"), CRON_LINES, ids=[c[0] for c in CRON_LINES])
def test_cron_lines_run_on_a_fixed_clock(text, expected):
    assert runs(text, NOW, len(expected)) == expected


ZONED = [
    (
        "0 2 * * * America/New_York",
        "0 2 * * *",
        "America/New_York",
        [utc(2024, 5, 16, 6), utc(2024, 5, 17, 6)],
    ),
    (
        "0 2 * * * Europe/Paris",
        "0 2 * * *",
        "Europe/Paris",
        [utc(2024, 5, 16, 0), utc(2024, 5, 17, 0)],
    ),
    (
        "30 9 * * 1 Asia/Kolkata",
        "30 9 * * 1",
        "Asia/Kolkata",
        [utc(2024, 5, 20, 4), utc(2024, 5, 27, 4)],
    ),
    ("0 0 * * * UTC", "0 0 * * *", "UTC", [utc(2024, 5, 16)]),
    ("every day at 2am America/New_York", "0 2 * * *", "America/New_York", [utc(2024, 5, 16, 6)]),
    (
        "every day at 5 pm on America/Los_Angeles",
        "0 17 * * *",
        "America/Los_Angeles",
        [utc(2024, 5, 16, 0)],
    ),
    ("every monday at 9am Asia/Tokyo", "0 9 * * 1", "Asia/Tokyo", [utc(2024, 5, 20, 0)]),
    (
        "every 1st of month at 3am in Australia/Sydney",
        "0 3 1 * *",
        "Australia/Sydney",
        [utc(2024, 5, 31, 17)],
    ),
    ("@daily Europe/London", "0 0 * * *", "Europe/London", [utc(2024, 5, 15, 23)]),
    (
        "every 15 minutes Asia/Kathmandu",
        "*/15 * * * *",
        "Asia/Kathmandu",
        [utc(2024, 5, 15, 10, 30)],
    ),
]


@pytest.mark.parametrize(("text", "cron", "zone", "expected"), ZONED, ids=[z[0] for z in ZONED])
def test_a_trailing_iana_zone_sets_the_entrys_own_time_zone(text, cron, zone, expected):
    schedule = parse_schedule(text)
    assert (schedule.cron, schedule.zone) == (cron, zone)
    assert runs(text, NOW, len(expected)) == expected


def test_without_a_zone_the_apps_time_zone_applies():
    app = Celery("zones", set_as_current=False)
    app.conf.timezone = "America/New_York"
    schedule = parse_schedule("every day at 2am")
    assert schedule.next_time(NOW, app) == utc(2024, 5, 16, 6)
    assert schedule.next_time(NOW) == utc(2024, 5, 16, 2)  # the default app runs on UTC


# --------------------------------------------------------------------------- DST, New York
# 2024-03-10: 02:00 EST -> 03:00 EDT (02:xx does not exist).
# 2024-11-03: 02:00 EDT -> 01:00 EST (01:xx happens twice).


def test_spring_forward_a_daily_time_in_the_gap_runs_once_when_the_clock_jumps():
    found = runs("30 2 * * * America/New_York", utc(2024, 3, 8, 12))
    assert [run.astimezone(NY) for run in found] == [
        ny(2024, 3, 9, 2, 30),
        ny(2024, 3, 10, 3, 30),  # 02:30 does not exist: runs as Rails maps it, one hour on
        ny(2024, 3, 11, 2, 30),
    ]


def test_spring_forward_every_30_minutes_has_no_gap_and_no_double_run():
    found = runs("every 30 minutes America/New_York", ny(2024, 3, 10, 1, 10), 5)
    assert [run.astimezone(NY) for run in found] == [
        ny(2024, 3, 10, 1, 30),
        ny(2024, 3, 10, 3, 0),  # 02:00 ran as the clock jumped; 02:30 is the same as 03:30
        ny(2024, 3, 10, 3, 30),
        ny(2024, 3, 10, 4, 0),
        ny(2024, 3, 10, 4, 30),
    ]
    assert [b - a for a, b in itertools.pairwise(found)] == [timedelta(minutes=30)] * 4


def test_fall_back_a_daily_time_in_the_repeated_hour_runs_once():
    found = runs("30 1 * * * America/New_York", utc(2024, 11, 2, 12))
    assert found == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30), utc(2024, 11, 5, 6, 30)]
    assert found[0].astimezone(NY).fold == 0  # 01:30 EDT, the first pass only


def test_fall_back_hourly_and_sub_hourly_keep_running_through_the_repeated_hour():
    hourly = runs("every hour America/New_York", ny(2024, 11, 3, 0, 30), 4)
    assert [b - a for a, b in itertools.pairwise(hourly)] == [timedelta(hours=1)] * 3
    assert [run.astimezone(NY).strftime("%H:%M %Z") for run in hourly] == [
        "01:00 EDT",
        "01:00 EST",
        "02:00 EST",
        "03:00 EST",
    ]
    half = runs("*/30 * * * * America/New_York", utc(2024, 11, 3, 4, 50), 6)
    assert [b - a for a, b in itertools.pairwise(half)] == [timedelta(minutes=30)] * 5


def test_a_last_run_inside_the_repeated_hour_never_gives_a_past_time():
    second_pass = utc(2024, 11, 3, 6, 0)  # 01:00 EST, the second 01:00
    assert parse_schedule("*/30 * * * * America/New_York").next_time(second_pass) == utc(
        2024, 11, 3, 6, 30
    )
    assert parse_schedule("30 1 * * * America/New_York").next_time(second_pass) == utc(
        2024, 11, 4, 6, 30
    )


def test_beat_is_not_told_to_run_again_in_the_repeated_hour_where_stock_crontab_is():
    # Stock crontab reads 01:00 EST as 01:00 EDT, so the next 01:30 is in the past: due at
    # every tick for half an hour. ZonedCrontab knows the second pass.
    app = Celery("dst", set_as_current=False)
    app.conf.timezone = "America/New_York"
    now, last = utc(2024, 11, 3, 6, 10), utc(2024, 11, 3, 6, 0)
    stock = crontab(minute="*/30", app=app, nowfun=lambda: now)
    ours = ZonedCrontab(minute="*/30", app=app, nowfun=lambda: now)
    assert stock.is_due(last).is_due is True
    assert tuple(ours.is_due(last)) == (False, 1200.0)
    assert ours.remaining_estimate(last) == timedelta(minutes=20)


def test_is_due_and_remaining_estimate_follow_the_fixed_clock():
    clock = [utc(2024, 5, 16, 5, 59, 30)]
    nightly = ZonedCrontab(minute=0, hour=2, zone="America/New_York", nowfun=lambda: clock[0])
    last = utc(2024, 5, 15, 6, 0, 1)
    assert tuple(nightly.is_due(last)) == (False, 30.0)
    clock[0] = utc(2024, 5, 16, 6, 0, 0, 200)
    due, next_check = nightly.is_due(last)
    assert due is True
    assert next_check == pytest.approx(timedelta(days=1).total_seconds(), abs=1)


# Clock changes in 2024: New York and London (one hour), Lord Howe Island (half an hour).
TRANSITIONS = [
    utc(2024, 3, 10, 7),
    utc(2024, 11, 3, 6),
    utc(2024, 3, 31, 1),
    utc(2024, 10, 27, 1),
    utc(2024, 4, 6, 15),
    utc(2024, 10, 5, 15, 30),
]


@settings(max_examples=200, deadline=None)
@given(
    near=st.sampled_from(TRANSITIONS),
    offset=st.timedeltas(min_value=timedelta(hours=-26), max_value=timedelta(hours=3)),
    line=st.sampled_from(["*/15 * * * *", "0 * * * *", "30 1 * * *", "0 2 * * *", "15 8 * * 1-5"]),
    zone=st.sampled_from(["America/New_York", "Europe/London", "Australia/Lord_Howe"]),
)
def test_around_dst_runs_increase_on_matching_wall_times_once_a_day_at_fixed_hours(
    near, offset, line, zone
):
    cron = ZonedCrontab(*_celery_order(line), zone=zone)
    tz, at = ZoneInfo(zone), near + offset
    seen_days: set[object] = set()
    for _ in range(40):
        following = cron.next_after(at)
        assert following > at
        assert _matches(cron, following.astimezone(tz)) or _jumped_over_a_match(cron, following, tz)
        if cron.hour != set(range(24)):
            day = following.astimezone(tz).date()
            assert day not in seen_days  # fixed-time entries run once a day at most
            seen_days.add(day)
        at = following


def _celery_order(line: str) -> tuple[str, ...]:
    minute, hour, day_of_month, month, day_of_week = line.split()
    return minute, hour, day_of_week, day_of_month, month


def _matches(cron: ZonedCrontab, wall: datetime) -> bool:
    weekday = wall.isoweekday() % 7
    return wall.minute in cron.minute and wall.hour in cron.hour and weekday in cron.day_of_week


def _jumped_over_a_match(cron: ZonedCrontab, run: datetime, tz: ZoneInfo) -> bool:
    """``run`` is a matching wall time that did not exist, moved on by the clock change."""
    shift = run.astimezone(tz).utcoffset() - (run - timedelta(hours=3)).astimezone(tz).utcoffset()
    skipped = (run.astimezone(tz) - shift).replace(tzinfo=None)
    exists = skipped.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return shift > timedelta(0) and exists != skipped and _matches(cron, skipped)


def test_intervals_count_from_the_last_run():
    ten = parse_schedule("every 10 seconds").celery_schedule()
    assert next_run_after(ten, utc(2024, 5, 1, 0, 0, 5)) == utc(2024, 5, 1, 0, 0, 15)


def test_zoned_crontab_equality_and_pickling_keep_the_zone():
    import pickle

    paris = ZonedCrontab(0, 2, zone="Europe/Paris")
    assert paris == ZonedCrontab(0, 2, zone="Europe/Paris")
    assert paris != ZonedCrontab(0, 2, zone="America/New_York")
    restored = pickle.loads(pickle.dumps(paris))
    assert (restored.zone, restored.hour, restored.minute) == ("Europe/Paris", {2}, {0})
    assert "Europe/Paris" in repr(paris)


BAD = [
    ("every fortnight", "is not supported"),
    ("sometimes", "is not supported"),
    ("* * * *", "is not supported"),
    ("0 2 * * * Mars/Olympus", "'Mars/Olympus' is not an IANA time zone name"),
    ("0 25 * * *", "is not a valid cron line"),
    ("61 * * * *", "is not a valid cron line"),
    ("0 12 * * 8", "is not a valid cron line"),
    ("0 0 31 2 *", "is not a valid cron line"),
    ("0 0 L * *", "is not a valid cron line"),
    ("0 0 1 * 1", "restricts both the day of month and the day of week"),
    ("every 75 minutes", "the count must be 1-59; use hours"),
    ("every 30 hours", "the count must be 1-23; use days"),
    ("every 0 seconds", "the count must be at least 1"),
    ("every 2 weeks", "cannot be written as cron"),
    ("every day at 25:00", "hours must be 0-23"),
    ("every day at 13pm", "with am/pm the hour must be 1-12"),
    ("every day at 9:75", "minutes must be 00-59"),
    ("every 32nd of month", "day of month 32 is not 1-31"),
    ("", "is not a text"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[b[0] or "empty" for b in BAD])
def test_anything_else_is_a_configuration_error_that_says_why(text, message):
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse_schedule(text)


def test_an_unsupported_schedule_lists_the_supported_forms():
    with pytest.raises(ConfigurationError) as raised:
        parse_schedule("every other tuesday")
    assert SUPPORTED_FORMS in str(raised.value)
    assert '"every day at 2am"' in str(raised.value) and "America/New_York" in str(raised.value)


def test_non_text_schedules_are_refused():
    with pytest.raises(ConfigurationError, match="is not a text"):
        parse_schedule(["0 2 * * *"])  # type: ignore[arg-type]
