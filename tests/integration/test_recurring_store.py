"""Recurring entries in RedBeat on a real Redis: sync, runtime API, firing task, beat start hook."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from celery.schedules import crontab
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry

from activejob_celery import ApplicationJob, ConfigurationError
from activejob_celery.recurring import (
    _on_beat_init,
    recurring_tasks,
    run_now,
    schedule_recurring_task,
    sync,
    unschedule_recurring_task,
)
from activejob_celery.recurring.schedules import ZonedCrontab
from activejob_celery.recurring.store import TASK_NAME, RecurringEntry
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

PREFIX = "redbeat:activejob:recurring:"


class StoreNightlyJob(ApplicationJob):
    def perform(self, *args, **kwargs): ...


class StoreReportJob(ApplicationJob):
    def perform(self, *args, **kwargs): ...


CONFIG = {
    "nightly": {"class": "StoreNightlyJob", "schedule": "every day at 2am America/New_York"},
    "report": {
        "class": "StoreReportJob",
        "schedule": "every 5 minutes",
        "args": ["weekly"],
        "queue": "reports",
        "priority": 4,
    },
}


def app_with(aj_redis, schedule, **conf):
    return make_app(
        aj_redis.url,
        redbeat_redis_url=aj_redis.url,
        activejob_recurring_schedule=schedule,
        **conf,
    )


def stored(client, name):
    definition = json.loads(client.hget(PREFIX + name, "definition"))
    meta = json.loads(client.hget(PREFIX + name, "meta"))
    spec = json.loads(client.hget(PREFIX + name, "activejob"))
    return definition, meta, spec, client.zscore("redbeat::schedule", PREFIX + name)


def test_sync_stores_redbeat_entries_that_fire_our_task_at_the_next_run(aj_redis):
    app = app_with(aj_redis, CONFIG)
    before = datetime.now(timezone.utc)
    result = sync(app)
    assert (result.added, result.updated, result.removed) == (["nightly", "report"], [], [])
    definition, meta, spec, score = stored(aj_redis.client, "report")
    assert definition["task"] == TASK_NAME
    assert definition["args"] == ["report"]  # the message carries the key only
    assert definition["options"] == {"queue": "reports"}  # fired where the job itself goes
    assert spec["class"] == StoreReportJob.job_name and spec["priority"] == 4
    assert spec["arguments"] == ["weekly"] and spec["static"] is True
    # sibson/redbeat#154: a new entry must not be due on the next tick.
    _, meta, _, nightly_score = stored(aj_redis.client, "nightly")
    assert meta["last_run_at"] is not None
    expected = ZonedCrontab(0, 2, zone="America/New_York").next_after(before)
    assert nightly_score == int(expected.timestamp())
    five = ZonedCrontab(minute="*/5").next_after(before).timestamp()
    assert score in (five, five + 300)  # the next 5-minute mark, not "now"


def test_resync_updates_keeps_history_removes_and_leaves_other_entries_alone(aj_redis):
    app = app_with(aj_redis, CONFIG)
    foreign = RedBeatSchedulerEntry(
        "someone-else", "shop.tasks.ping", crontab(minute="*/5"), args=[1], app=app
    ).save()
    wrong_prefix = RedBeatSchedulerEntry(
        "activejob:other:x", "shop.tasks.ping", crontab(minute=0), app=app
    ).save()
    foreign_before = {
        key: (aj_redis.client.hgetall(key), aj_redis.client.zscore("redbeat::schedule", key))
        for key in (foreign.key, wrong_prefix.key)
    }
    sync(app)
    aj_redis.client.hset(
        PREFIX + "nightly", "meta", json.dumps({"last_run_at": None, "total_run_count": 7})
    )
    aj_redis.client.hset(
        PREFIX + "orphan", "definition", json.dumps({"name": "x", "task": TASK_NAME})
    )
    again = sync(app)
    assert (again.unchanged, again.removed) == (["nightly", "report"], ["orphan"])
    _, meta, _, score = stored(aj_redis.client, "nightly")
    assert meta["last_run_at"] is not None and score > datetime.now(timezone.utc).timestamp()

    changed = {"nightly": {**CONFIG["nightly"], "schedule": "every day at 4am America/New_York"}}
    result = sync(app, jobs=_load(changed))
    assert (result.added, result.updated, result.removed) == ([], ["nightly"], ["report"])
    _, meta, spec, score = stored(aj_redis.client, "nightly")
    assert spec["schedule"] == "every day at 4am America/New_York"
    assert meta["total_run_count"] == 7  # run history survives a schedule change
    assert (
        datetime.fromtimestamp(score, timezone.utc)
        .astimezone(ZonedCrontab(zone="America/New_York").tz)
        .hour
        == 4
    )
    assert not aj_redis.client.exists(PREFIX + "report") and not aj_redis.client.exists(
        PREFIX + "orphan"
    )
    assert aj_redis.client.zscore("redbeat::schedule", PREFIX + "report") is None
    for key, (hash_before, score_before) in foreign_before.items():
        assert aj_redis.client.hgetall(key) == hash_before
        assert aj_redis.client.zscore("redbeat::schedule", key) == score_before


def test_sync_refuses_an_invalid_configuration_and_changes_nothing(aj_redis):
    app = app_with(aj_redis, CONFIG)
    sync(app)
    before = {key: aj_redis.client.hgetall(key) for key in aj_redis.client.keys(PREFIX + "*")}
    bad = {**CONFIG, "broken": {"class": "StoreNightlyJob", "schedule": "every blue moon"}}
    with pytest.raises(
        ConfigurationError, match="recurring job 'broken': schedule 'every blue moon'"
    ):
        sync(app_with(aj_redis, bad))
    assert {
        key: aj_redis.client.hgetall(key) for key in aj_redis.client.keys(PREFIX + "*")
    } == before
    with pytest.raises(ConfigurationError, match="activejob_recurring_schedule is not set"):
        sync(make_app(aj_redis.url, redbeat_redis_url=aj_redis.url))


def test_redbeat_alone_loses_the_zone_our_entry_class_restores_it(aj_redis):
    app = app_with(aj_redis, CONFIG)
    sync(app)
    plain = RedBeatSchedulerEntry.from_key(PREFIX + "nightly", app=app)
    ours = RecurringEntry.from_key(PREFIX + "nightly", app=app)
    assert type(plain.schedule) is crontab  # RedBeat's JSON has no zone field
    assert isinstance(ours.schedule, ZonedCrontab) and ours.schedule.zone == "America/New_York"
    after_fire = next(ours)  # what beat does when it sends the task
    due = datetime.fromtimestamp(
        aj_redis.client.zscore("redbeat::schedule", PREFIX + "nightly"), timezone.utc
    )
    assert due == ours.schedule.next_after(after_fire.last_run_at).replace(microsecond=0)
    assert due.astimezone(ours.schedule.tz).hour == 2


def test_runtime_entries_survive_sync_and_are_removed_on_request(aj_redis):
    app = app_with(aj_redis, CONFIG)
    sync(app)
    added = schedule_recurring_task(
        "adhoc", job=StoreReportJob, schedule="every monday at 9am", args=["adhoc"], app=app
    )
    assert added.static is False
    assert sync(app).removed == []
    tasks = {task.key: task for task in recurring_tasks(app)}
    assert sorted(tasks) == ["adhoc", "nightly", "report"]
    assert tasks["adhoc"].static is False and tasks["nightly"].static is True
    assert tasks["adhoc"].next_run_at.weekday() == 0 and tasks["adhoc"].next_run_at.hour == 9
    assert tasks["nightly"].last_run_at is None and tasks["nightly"].total_run_count == 0
    with pytest.raises(ConfigurationError, match="comes from the configuration; edit it there"):
        schedule_recurring_task("nightly", job="StoreNightlyJob", schedule="@hourly", app=app)
    with pytest.raises(ConfigurationError, match="remove it there and sync"):
        unschedule_recurring_task("nightly", app=app)
    assert unschedule_recurring_task("adhoc", app=app) is True
    assert unschedule_recurring_task("adhoc", app=app) is False
    assert sorted(task.key for task in recurring_tasks(app)) == ["nightly", "report"]


def test_the_firing_task_enqueues_a_fresh_job_each_time(aj_redis, aj_job_buffer):
    class FiredJob(ApplicationJob):
        def perform(self, label, *, times=1):
            aj_job_buffer.add((label, times, self.job_id, self.queue_name, self.priority))

    app = app_with(
        aj_redis,
        {
            "fired": {
                "class": "FiredJob",
                "schedule": "every 10 seconds",
                "args": ["x"],
                "kwargs": {"times": 2},
                "priority": 1,
            }
        },
    )
    sync(app)
    with run_worker(app):
        app.send_task(TASK_NAME, args=["fired"], queue="default")
        app.send_task(TASK_NAME, args=["fired"], queue="default")
        run_now("fired", app=app)
        app.send_task(TASK_NAME, args=["gone"], queue="default")  # not scheduled: nothing runs
        runs = wait_for(lambda: len(aj_job_buffer.values) == 3 and aj_job_buffer.values, timeout=20)
    assert {run[:2] for run in runs} == {("x", 2)}
    assert len({run[2] for run in runs}) == 3  # a fresh job_id per firing
    assert {run[3:] for run in runs} == {("default", 1)}
    with pytest.raises(ConfigurationError, match="no recurring job 'gone' is scheduled"):
        run_now("gone", app=app)


def test_beat_start_swaps_in_our_entry_class_and_syncs(aj_redis):
    app = app_with(aj_redis, CONFIG, redbeat_lock_key=None)
    scheduler = RedBeatScheduler(app=app, max_interval=1)
    _on_beat_init(sender=SimpleNamespace(scheduler=scheduler))
    assert scheduler.Entry is RecurringEntry
    assert sorted(scheduler.schedule) == []  # nothing due yet: new entries wait for their time
    assert aj_redis.client.exists(PREFIX + "nightly", PREFIX + "report") == 2
    now = datetime.now(timezone.utc)
    aj_redis.client.zadd(
        "redbeat::schedule", {PREFIX + "report": (now - timedelta(seconds=1)).timestamp()}
    )
    due = scheduler.schedule
    assert list(due) == ["activejob:recurring:report"]
    assert isinstance(due["activejob:recurring:report"], RecurringEntry)


def test_beat_start_with_an_invalid_configuration_stops_beat(aj_redis, caplog):
    app = app_with(
        aj_redis, {"x": {"class": "MissingJob", "schedule": "@daily"}}, redbeat_lock_key=None
    )
    scheduler = RedBeatScheduler(app=app, max_interval=1)
    with pytest.raises(SystemExit) as raised:
        _on_beat_init(sender=SimpleNamespace(scheduler=scheduler))
    assert "recurring job 'x': class 'MissingJob' is not a registered job class" in str(
        raised.value
    )
    assert "invalid recurring jobs, not starting" in caplog.text


def _load(mapping):
    from activejob_celery.recurring import load_recurring

    return load_recurring(mapping)


def test_the_cli_lists_syncs_and_runs_now(aj_redis):
    from click.testing import CliRunner

    from activejob_celery.cli.recurring import recurring

    app = app_with(aj_redis, CONFIG)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(recurring, list(args), obj=SimpleNamespace(app=app))

    empty = invoke("list")
    assert empty.exit_code == 0 and "No recurring jobs in RedBeat" in empty.output
    synced = invoke("sync")
    assert synced.exit_code == 0
    assert synced.output.splitlines() == [
        "added nightly",
        "added report",
        "2 added, 0 updated, 0 removed, 0 unchanged",
    ]
    table = invoke("list").output.splitlines()
    assert table[0] == f"nightly  {StoreNightlyJob.job_name}  'every day at 2am America/New_York'"
    assert (
        table[1].startswith("    next run: ")
        and "T02:00:00-0" in table[1]
        and table[1].endswith("last run: -")
    )
    ran = invoke("run-now", "report")
    assert ran.exit_code == 0 and "to reports" in ran.output
    # priority 4: kombu keeps each priority of a Redis queue in its own list
    assert sum(aj_redis.client.llen(key) for key in aj_redis.client.keys("reports*")) == 1
    missing = invoke("run-now", "nope")
    assert missing.exit_code == 1 and "no recurring job 'nope' is scheduled" in missing.output


def test_an_empty_mapping_removes_every_configured_entry(aj_redis):
    sync(app_with(aj_redis, CONFIG))
    assert sorted(sync(app_with(aj_redis, {})).removed) == ["nightly", "report"]
    assert aj_redis.client.keys(PREFIX + "*") == []
