"""What workers do for the dashboard, with a real worker: count jobs, keep paused queues paused."""

from __future__ import annotations

import time

import pytest
from celery import Celery

from activejob_celery import init_app
from activejob_celery.web import pause, paused_queues, resume
from activejob_celery.web.queues import queue_overview
from activejob_celery.worker import metrics
from tests.support.redis_server import free_port
from tests.support.worker import run_worker, wait_for
from tests.web.jobs import (
    WebFlakyJob,
    WebOtherQueueJob,
    WebPausedQueueJob,
    WebRecordJob,
    ran,
)


def totals(app):
    minutes = metrics.last_hour(app)
    return sum(minute.performed for minute in minutes), sum(minute.failed for minute in minutes)


def test_workers_count_performed_and_failed_jobs_per_minute(aj_web_app, aj_web_client, aj_redis):
    url = aj_redis.url
    aj_redis.client.set("flaky:fail", "1")
    WebRecordJob.perform_now(url, "direct", "not a worker")  # not worker throughput
    with run_worker(aj_web_app):
        for index in range(5):
            WebRecordJob.perform_later(url, "done", str(index))
        WebFlakyJob.perform_later(url, "flaky")
        wait_for(lambda: totals(aj_web_app) == (5, 1), timeout=30, message="5 performed, 1 failed")
    minute = int(time.time() // 60)
    keys = [key.decode() for key in aj_redis.client.keys("activejob:metrics:*")]
    assert set(keys) <= {f"activejob:metrics:{minute - 1}", f"activejob:metrics:{minute}"}
    assert 0 < aj_redis.client.ttl(keys[0]) <= metrics.RETENTION
    page = aj_web_client.get("/").text
    assert "5 performed, 1 failed" in page
    assert page.count("<rect") == 3 * 60


def test_counting_never_holds_a_job_up_when_redis_is_gone(aj_redis, caplog, monkeypatch):
    monkeypatch.setattr(metrics._Owner, "failing", False)
    app = Celery("aj_web_gone", broker=aj_redis.url, set_as_current=False)
    app.conf.activejob_dead_letters_url = f"redis://127.0.0.1:{free_port()}/0"
    metrics.setup(app, init_app(app))
    started = time.monotonic()
    for _ in range(1000):
        metrics.record(app, failed=False)  # an in-process tally: no network on the job's path
    assert time.monotonic() - started < 0.5
    metrics.flush()  # connection refused: logged once, counts dropped, nothing raised
    metrics.flush()
    assert time.monotonic() - started < 5
    assert "Could not write job counters" in caplog.text
    app.close()


def test_pausing_stops_a_queue_until_resumed(aj_web_app, aj_redis):
    url = aj_redis.url
    with run_worker(aj_web_app, queues=["web_paused", "web_other"]) as worker:
        paused = pause(aj_web_app, "web_paused")
        assert paused.workers == [worker.hostname]
        # A job on another queue proves the worker polled again after the pause took effect.
        WebOtherQueueJob.perform_later(url, "other", "first")
        wait_for(lambda: ran(url, "other") == ["first"], timeout=20)
        WebPausedQueueJob.perform_later(url, "paused", "waited")
        WebOtherQueueJob.perform_later(url, "other", "second")
        wait_for(lambda: ran(url, "other") == ["first", "second"], timeout=20)
        assert ran(url, "paused") == []
        depths = {row.name: row.depth for row in queue_overview(aj_web_app).queues}
        assert depths["web_paused"] == 1
        assert resume(aj_web_app, "web_paused") == [worker.hostname]
        wait_for(lambda: ran(url, "paused") == ["waited"], timeout=20)
    assert paused_queues(aj_web_app) == {}


@pytest.mark.extended
def test_a_worker_started_while_a_queue_is_paused_leaves_it_alone(aj_web_app, aj_redis):
    url = aj_redis.url
    assert pause(aj_web_app, "web_paused", timeout=0.2).workers == []
    WebPausedQueueJob.perform_later(url, "paused", "waited")
    with run_worker(aj_web_app, queues=["web_paused", "web_other"]) as worker:
        WebOtherQueueJob.perform_later(url, "other", "ran")
        wait_for(lambda: ran(url, "other") == ["ran"], timeout=20)
        assert ran(url, "paused") == []
        assert paused_queues(aj_web_app)["web_paused"].workers == [worker.hostname]
        assert resume(aj_web_app, "web_paused") == [worker.hostname]
        wait_for(lambda: ran(url, "paused") == ["waited"], timeout=20)
