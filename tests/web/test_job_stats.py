"""Statistics per job class: counted by a real worker, kept in bounded Redis buckets, read back."""

from __future__ import annotations

import os
import signal
import time

from activejob_celery import perform_all_later
from activejob_celery.web.stats_view import Percentile, by_class
from activejob_celery.worker import job_stats, metrics
from tests.support.worker import run_worker, wait_for
from tests.web.stats_jobs import (
    StatsDeadJob,
    StatsDiscardJob,
    StatsQuickJob,
    StatsRetryJob,
    StatsSlowJob,
)

COUNTS = ("enqueued", "performed", "retried", "discarded", "dead")


def counts(app):
    rows = by_class(app) or []
    return {
        row.job_class.rsplit(".", 1)[-1]: tuple(getattr(row.hour, name) for name in COUNTS)
        for row in rows
    }


def test_a_worker_counts_every_outcome_and_duration_per_class(aj_web_app):
    StatsQuickJob.perform_now()  # outside a worker: not counted
    expected = {
        "StatsSlowJob": (3, 3, 0, 0, 0),
        "StatsQuickJob": (4, 4, 0, 0, 0),
        "StatsRetryJob": (1, 0, 1, 0, 1),
        "StatsDiscardJob": (1, 0, 0, 1, 0),
        "StatsDeadJob": (1, 0, 0, 0, 1),
    }
    with run_worker(aj_web_app):
        for _ in range(3):
            StatsSlowJob.perform_later(0.3)
        perform_all_later([StatsQuickJob() for _ in range(4)])
        StatsRetryJob.perform_later()
        StatsDiscardJob.perform_later()
        StatsDeadJob.perform_later()
        wait_for(lambda: counts(aj_web_app) == expected, timeout=60, message=str(expected))
    rows = {row.job_class.rsplit(".", 1)[-1]: row for row in by_class(aj_web_app) or []}
    for row in rows.values():
        assert row.day == row.hour  # the same runs, in the day's quarter-hour buckets
    slow, quick = rows["StatsSlowJob"].hour, rows["StatsQuickJob"].hour
    assert (slow.runs, quick.runs, rows["StatsRetryJob"].hour.runs) == (3, 4, 2)
    assert slow.p50 is not None and slow.p50.low >= 0.25  # 0.3 s: never a faster bucket
    assert slow.p95 is not None and slow.p95.low >= 0.25
    assert quick.p50 is not None and quick.p50.high is not None and quick.p50.high <= 0.25
    assert rows["StatsDeadJob"].hour.runs == 1  # a failed run's duration counts too


def test_windows_hour_and_day_read_their_own_buckets(aj_web_app):
    now = time.time()
    name = "shop.jobs.WindowJob"
    for ago, duration in [(30, 0.3), (2 * 3600, 2.0), (25 * 3600, 0.01)]:
        job_stats.record(aj_web_app, name, "performed", duration=duration, now=now - ago)
    metrics.flush()
    [row] = by_class(aj_web_app, now=now) or []
    assert (row.hour.performed, row.day.performed) == (1, 2)
    assert row.hour.p50 == Percentile(0.25, 0.5)
    assert row.day.p95 == Percentile(1.0, 2.5)
    assert str(row.day.p95) == "≤ 2.5 s"


def test_memory_is_bounded_per_class_and_per_key_space(aj_web_app, aj_redis):
    now = time.time()
    names = [f"shop.jobs.Job{index}" for index in range(40)]
    for minute in range(0, 3 * 60, 7):  # three hours of minutes, 40 classes, every outcome
        for index, name in enumerate(names):
            for counter in COUNTS:
                duration = 10.0 ** ((index + minute) % 7 - 3)  # 1 ms .. 1000 s: every bucket
                at = now - minute * 60
                job_stats.record(aj_web_app, name, counter, duration=duration, now=at)
    metrics.flush()
    client = aj_redis.client
    keys = [key.decode() for key in client.keys("activejob:stats:*")]
    minutes = [key for key in keys if ":m:" in key]
    quarters = [key for key in keys if ":q:" in key]
    assert len(minutes) + len(quarters) == len(keys)
    per_class = len(COUNTS) + len(job_stats.BOUNDS) + 1
    for key in keys:
        ttl = client.ttl(key)
        limit = job_stats.MINUTE_TTL if key in minutes else job_stats.QUARTER_TTL
        assert 0 < ttl <= limit, key
        assert client.hlen(key) <= len(names) * per_class
    # A day of quarter-hours and an hour of minutes outlive their TTLs at most by the spare ones.
    assert job_stats.MINUTE_TTL // 60 + job_stats.QUARTER_TTL // job_stats.QUARTER <= 66 + 99
    assert len(by_class(aj_web_app, now=now) or []) == len(names)


def test_a_failed_message_of_no_registered_class_counts_as_unknown(aj_web_app, monkeypatch):
    class Task:
        app = aj_web_app

    monkeypatch.setattr(job_stats, "running_task", lambda: Task)
    payload = {"job_class": "evil.Name" * 50}
    for _ in range(3):
        job_stats._on_failure(payload, RuntimeError("x"), reason="unknown_job_class", job=None)
    metrics.flush()
    [row] = by_class(aj_web_app) or []
    assert (row.job_class, row.hour.dead) == (job_stats.UNKNOWN_CLASS, 3)


def test_an_adapter_without_a_celery_app_counts_nothing_and_raises_nothing(aj_web_app):
    job_stats.record(None, "shop.jobs.ReceiptJob", "enqueued")
    job_stats._on_enqueue(StatsQuickJob, job=StatsQuickJob(), adapter=object())
    metrics.flush()
    assert by_class(aj_web_app) == []


def test_a_child_forked_while_the_tally_is_locked_still_counts(aj_web_app):
    metrics.tally(aj_web_app, [("activejob:stats:parent", 60)], ["a.Job|performed"])
    with metrics._lock:  # as if the flusher thread were writing at the moment of the fork
        pid = os.fork()
        if pid == 0:  # the child: counting must neither block nor inherit the parent's tally
            signal.alarm(10)
            metrics.tally(aj_web_app, [("activejob:stats:child", 60)], ["a.Job|performed"])
            os._exit(0 if list(metrics._pending) == [(aj_web_app, "activejob:stats:child")] else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    metrics.flush()


def test_a_bulk_enqueue_counts_each_class_once_per_job(aj_web_app, monkeypatch):
    tallies = []
    real_tally = metrics.tally
    monkeypatch.setattr(
        metrics, "tally", lambda *a, **kw: (tallies.append(kw.get("by", 1)), real_tally(*a, **kw))
    )
    perform_all_later([StatsQuickJob() for _ in range(5)] + [StatsSlowJob(0) for _ in range(2)])
    assert sorted(tallies) == [2, 5]  # one tally per class, not one per job
    expected = {"StatsQuickJob": (5, 0, 0, 0, 0), "StatsSlowJob": (2, 0, 0, 0, 0)}
    wait_for(lambda: counts(aj_web_app) == expected, timeout=30, message=str(expected))
