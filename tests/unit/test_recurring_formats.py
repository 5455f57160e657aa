"""Recurring entries as Solid Queue, GoodJob, sidekiq-cron and sidekiq-scheduler write them."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone

import pytest
from redbeat.decoder import RedBeatJSONEncoder

from activejob_celery import ApplicationJob, ConfigurationError, registry
from activejob_celery.recurring import load_recurring, parse_schedule
from activejob_celery.recurring.classes import resolve_job_class
from activejob_celery.recurring.formats import duration_seconds


def _job(job_name: str, class_name: str) -> type[ApplicationJob]:
    def perform(self, *args, **kwargs):
        return args, kwargs

    return type(class_name, (ApplicationJob,), {"job_name": job_name, "perform": perform})


DeliverJob = _job("seedapp.notification.bundle.DeliverJob", "DeliverJob")
AutoPostponeJob = _job("seedapp.Card.AutoPostponeJob", "AutoPostponeJob")
SessionCleanupJob = _job("seedapp.session.CleanupJob", "CleanupJob")
DigestJob = _job("seedapp.DigestJob", "DigestJob")
DailyReportJob = _job("seedapp.reports.DailyReportJob", "DailyReportJob")
SyncDataJob = _job("seedapp.SyncDataJob", "SyncDataJob")
OURS = [DeliverJob, AutoPostponeJob, SessionCleanupJob, DigestJob, DailyReportJob, SyncDataJob]


@pytest.fixture(autouse=True)
def aj_only_these_jobs():
    """The registry holds exactly this module's jobs, so bare names are unique here."""
    saved = registry.snapshot()
    registry.restore({cls.job_name: cls for cls in OURS})
    yield
    registry.restore(saved)


def keyed(jobs):
    return {job.key: job for job in jobs}


# --- Solid Queue ---


def test_solid_queue_entry_fields_and_a_ruby_constant_path():
    [job] = load_recurring(
        {
            "deliver": {
                "class": "Notification::Bundle::DeliverJob",
                "schedule": "*/30 * * * *",
                "args": [1, "two"],
                "kwargs": {"urgent": True},
                "queue": "mail",
                "priority": -5,
                "description": "Bundle deliveries",
            }
        }
    )
    assert job.job_class is DeliverJob  # job_name ends with notification.bundle.DeliverJob
    assert job.schedule.cron == "*/30 * * * *"
    assert (job.args, job.kwargs) == ([1, "two"], {"urgent": True})
    assert (job.queue, job.priority, job.description) == ("mail", -5, "Bundle deliveries")


@pytest.mark.parametrize(
    ("written", "found"),
    [
        ("Card::AutoPostponeJob", AutoPostponeJob),  # exact tail
        ("Notification::Bundle::DeliverJob", DeliverJob),  # tail ignoring case
        ("Session::CleanupJob", SessionCleanupJob),
        ("Bundle.DeliverJob", DeliverJob),  # a dotted tail
        ("Other::DigestJob", DigestJob),  # no tail matches: the unique class of that name
        ("seedapp.DigestJob", DigestJob),  # a job_name
        ("DigestJob", DigestJob),
    ],
)
def test_class_names_resolve_through_the_registry_only(written, found):
    assert resolve_job_class(written) is found


def test_an_ambiguous_or_unknown_constant_path_names_the_candidates():
    other = _job("elsewhere.mail.DeliverJob", "DeliverJob")
    registry.restore({**registry.snapshot(), other.job_name: other})
    with pytest.raises(ConfigurationError) as raised:
        load_recurring({"d": {"class": "Mailer::DeliverJob", "schedule": "@hourly"}})
    assert (
        "recurring job 'd': class 'Mailer::DeliverJob' is ambiguous: it could be "
        "elsewhere.mail.DeliverJob, seedapp.notification.bundle.DeliverJob; give its job_name"
    ) in str(raised.value)
    assert resolve_job_class("Mail::DeliverJob") is other  # a tail that decides
    with pytest.raises(ConfigurationError, match="class 'Gone::MissingJob' is not a registered"):
        load_recurring({"d": {"class": "Gone::MissingJob", "schedule": "@hourly"}})


@pytest.mark.parametrize(
    ("phrase", "cron", "zone"),
    [
        ("every 5 minutes", "*/5 * * * *", None),
        ("every 2 hours", "0 */2 * * *", None),
        ("every day", "0 0 * * *", None),
        ("every day at 3pm", "0 15 * * *", None),
        ("every monday at 9am", "0 9 * * 1", None),
        ("every 1st of month at 8am", "0 8 1 * *", None),
        ("every day at 9am, 3pm, 9pm", "0 9,15,21 * * *", None),
        ("every day at 9am, 3pm and 9pm", "0 9,15,21 * * *", None),
        ("every day at 9:30am and 5:30pm", "30 9,17 * * *", None),
        ("every weekday at 8am and noon", "0 8,12 * * 1,2,3,4,5", None),
        ("every day at 9am America/New_York", "0 9 * * *", "America/New_York"),
        ("every day at 9am, 3pm, 9pm Europe/Paris", "0 9,15,21 * * *", "Europe/Paris"),
    ],
)
def test_the_schedule_syntax_of_the_seed(phrase, cron, zone):
    schedule = parse_schedule(phrase)
    assert (schedule.cron, schedule.zone) == (cron, zone)


def test_a_six_field_cron_line_starts_with_the_second():
    assert parse_schedule("0 */5 * * * *").cron == "*/5 * * * *"
    assert parse_schedule("0 0 2 * * * Europe/Paris").cron == "0 2 * * *"
    with pytest.raises(ConfigurationError, match="only second 0 is supported"):
        parse_schedule("30 * * * * *")


# --- GoodJob ---


def test_goodjob_cron_entries_with_set_kwargs_and_description():
    jobs = keyed(
        load_recurring(
            {  # config.good_job.cron, as the seed writes it (symbol keys arrive as text)
                "daily_cleanup": {"cron": "0 2 * * *", "class": "Session::CleanupJob"},
                "weekly_report": {
                    "cron": "0 9 * * 1",
                    "class": "DailyReportJob",
                    "args": ["admin@example.com"],
                    "kwargs": {"full": True},
                    "set": {"queue": "reports", "priority": -10},
                    "description": "Weekly report",
                },
                "natural": {"cron": "every day at 9am, 3pm, 9pm", "class": "DigestJob"},
            }
        )
    )
    assert jobs["daily_cleanup"].schedule.cron == "0 2 * * *"
    report = jobs["weekly_report"]
    assert (report.job_class, report.args, report.kwargs) == (
        DailyReportJob,
        ["admin@example.com"],
        {"full": True},
    )
    assert (report.queue, report.priority, report.description) == ("reports", -10, "Weekly report")
    assert jobs["natural"].schedule.cron == "0 9,15,21 * * *"


def test_goodjob_disabled_by_default_and_bad_set_options():
    entry = {"cron": "@daily", "class": "DigestJob", "enabled_by_default": False}
    assert load_recurring({"off": entry}) == []
    for options, message in [
        ({"wait": 60}, "set: option 'wait' is not supported"),
        ("low", "set: must be a mapping"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            load_recurring({"x": {"cron": "@daily", "class": "DigestJob", "set": options}})
    with pytest.raises(ConfigurationError, match="queue is given twice"):
        load_recurring(
            {"x": {"cron": "@daily", "class": "DigestJob", "queue": "a", "set": {"queue": "b"}}}
        )


# --- sidekiq-cron ---


def test_sidekiq_cron_entries_with_status_and_description(caplog):
    caplog.set_level(logging.INFO)
    jobs = load_recurring(
        {
            "daily_report": {
                "cron": "0 2 * * *",
                "class": "DailyReportJob",
                "queue": "low",
                "args": [7],
                "description": "2 AM daily",
                "status": "enabled",
                "active_job": True,
            },
            "paused": {"cron": "0 0 * * * *", "class": "DigestJob", "status": "disabled"},
        }
    )
    assert [(job.key, job.job_class, job.queue, job.args) for job in jobs] == [
        ("daily_report", DailyReportJob, "low", [7])
    ]
    assert "recurring job 'paused' is disabled in the file: not scheduled" in caplog.text
    with pytest.raises(ConfigurationError, match="status: must be enabled or disabled"):
        load_recurring({"x": {"cron": "@daily", "class": "DigestJob", "status": "paused"}})


def test_sidekiq_keys_we_do_not_have_are_errors_naming_the_key():
    for extra, message in [
        ({"retry": 3}, "unknown key 'retry'"),
        ({"at": "3001/01/01"}, "at: (a one-time run) is not a recurring schedule"),
        ({"interval": "1h"}, "interval: is not supported; write every:"),
        ({"date_as_argument": True}, "unknown key 'date_as_argument'"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            load_recurring({"x": {"cron": "@daily", "class": "DigestJob", **extra}})


# --- sidekiq-scheduler ---


@pytest.mark.parametrize(
    ("every", "seconds"),
    [("1h", 3600), ("30m", 1800), ("1d", 86400), ("45s", 45), ("1h30m", 5400), (["2w"], 1209600)],
)
def test_sidekiq_scheduler_every_is_an_interval(every, seconds):
    [job] = load_recurring({"sync": {"every": every, "class": "SyncDataJob", "queue": "default"}})
    assert (job.schedule.every, job.schedule.cron, job.queue) == (seconds, None, "default")
    assert parse_schedule(job.to_spec()["schedule"]) == job.schedule  # stored and read back


def test_sidekiq_scheduler_class_defaults_to_the_key_and_enabled_false_skips():
    jobs = load_recurring(
        {
            "SyncDataJob": {"every": "1h"},
            "DigestJob": {"cron": "0 8 * * 1", "enabled": False},
        }
    )
    assert [(job.key, job.job_class) for job in jobs] == [("SyncDataJob", SyncDataJob)]


def test_sidekiq_scheduler_first_in():
    entry = {"every": ["1h", {":first_in": "10m"}], "class": "SyncDataJob"}
    [job] = load_recurring({"sync": entry})
    assert (job.schedule.every, job.first_in) == (3600, 600)
    [plain] = load_recurring({"sync": {"every": "1h", "class": "SyncDataJob"}})
    assert plain.first_in is None and plain == job  # first_in only places the first run


def test_sidekiq_scheduler_every_errors():
    for every, message in [
        (["1h", {"first_at": "3000/01/01"}], r"every: options \(first_at\) are not supported"),
        (["1h", {"first_in": "soon"}], "every: first_in: 'soon' is not an interval"),
        ("1 month", "every: '1 month' is not an interval"),
        ("0s", "every: '0s' is not an interval"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            load_recurring({"x": {"every": every, "class": "SyncDataJob"}})
    assert duration_seconds("1.5h") == 5400 and duration_seconds(True) is None


def test_ruby_camel_case_namespaces_match_snake_case_modules():
    ticker = _job("aj_recurring.jobs.TickJob", "TickJob")
    twin = _job("other.TickJob", "TickJob")
    registry.restore({**registry.snapshot(), ticker.job_name: ticker, twin.job_name: twin})
    assert resolve_job_class("AjRecurring::Jobs::TickJob") is ticker
    [job] = load_recurring({"t": {"every": 1, "class": "AjRecurring::Jobs::TickJob"}})
    assert (job.job_class, job.schedule.text) == (ticker, "every 1 second")


def test_several_times_with_different_minutes_are_one_entry_firing_at_each():
    schedule = parse_schedule("every day at 9:30am and 5pm")
    assert schedule.cron == "30 9 * * * | 0 17 * * *"
    assert schedule.describe() == "30 9 * * * | 0 17 * * *"
    after = datetime(2024, 5, 1, tzinfo=timezone.utc)
    runs = []
    for _ in range(4):
        after = schedule.next_time(after)
        runs.append(after.strftime("%d %H:%M"))
    assert runs == ["01 09:30", "01 17:00", "02 09:30", "02 17:00"]
    zoned = parse_schedule("every weekday at 8:15am, noon and 6:45pm America/New_York")
    assert zoned.cron == "15 8 * * 1,2,3,4,5 | 0 12 * * 1,2,3,4,5 | 45 18 * * 1,2,3,4,5"
    friday = datetime(2024, 5, 3, 23, tzinfo=timezone.utc)  # 19:00 in New York
    assert zoned.next_time(friday).isoformat() == "2024-05-06T12:15:00+00:00"  # Monday 8:15


def test_a_several_times_schedule_is_stored_by_redbeat_and_is_due_on_time():
    celery_schedule = parse_schedule("every day at 9:30am and 5pm").celery_schedule()
    encoded = json.loads(json.dumps(celery_schedule, cls=RedBeatJSONEncoder))
    assert encoded["__type__"] == "crontab"  # RedBeat can write it; beat rebuilds it from the spec
    last = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)
    celery_schedule.now = lambda: datetime(2024, 5, 1, 16, 59, tzinfo=timezone.utc)
    assert celery_schedule.remaining_estimate(last) == timedelta(minutes=1)
    celery_schedule.now = lambda: datetime(2024, 5, 1, 17, 0, 1, tzinfo=timezone.utc)
    assert celery_schedule.is_due(last).is_due
    assert pickle_free_copy(celery_schedule) == celery_schedule


def pickle_free_copy(schedule):
    rebuild, args = schedule.__reduce__()
    return rebuild(*args)
