"""Job status through a real Redis and a real (in-process) worker: progress, outcomes, cancel."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import redis
from celery import Celery

from activejob_celery import (
    ApplicationJob,
    cancel,
    discard_on,
    job_status,
    limits_concurrency,
    retry_on,
)
from activejob_celery.scheduler import scheduled_set_for
from tests.support.fixtures import JobBuffer
from tests.support.worker import run_worker, wait_for


class Flaky(Exception): ...


class Gone(Exception): ...


def _wait_key(url: str, key: str) -> None:
    """Inside a job: poll until ``key`` is set by the test (then take it)."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 60
    while client.getdel(key) is None:
        assert time.monotonic() < deadline, f"nobody set {key}"
        time.sleep(0.05)


def _status(job_id: str) -> str | None:
    found = job_status(job_id)
    return None if found is None else found["status"]


def test_progress_is_visible_from_another_client_while_the_job_runs(
    aj_app: Celery, aj_redis: Any
) -> None:
    """The job reports progress, then waits on a Redis key: a separate client reads it meanwhile."""
    url = aj_redis.url

    class LoopJob(ApplicationJob):
        def perform(self, key: str) -> str:
            self.progress(50, 200, "Parsing")
            _wait_key(url, key)
            self.progress(200, 200, "Done")
            return "ok"

    with run_worker(aj_app):
        job = LoopJob.perform_later("go:progress")
        assert isinstance(job, LoopJob)
        seen = wait_for(
            lambda: (found := job_status(job.job_id)) and found["done"] == 50 and found,
            timeout=30,
        )
        assert seen["status"] == "running"
        assert (seen["total"], seen["message"], seen["pct"]) == (200, "Parsing", 25.0)
        assert seen["updated_at"] > 0 and seen["worker"]
        other = redis.Redis.from_url(url)
        assert other.hget(f"activejob:status:{job.job_id}", "done") == b"50"
        other.set("go:progress", "1")
        done = wait_for(lambda: _status(job.job_id) == "succeeded" and job_status(job.job_id))
        assert (done["done"], done["message"]) == (200, "Done")  # the last value landed
        ttl = other.ttl(f"activejob:status:{job.job_id}")
        assert 0 < ttl <= 86400


def test_status_follows_queued_retrying_succeeded(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class TwiceJob(ApplicationJob):
        retry_on(Flaky, wait=2, attempts=3)

        def perform(self) -> None:
            aj_job_buffer.add(self.executions)
            if self.executions < 2:
                raise Flaky("once")

    job = TwiceJob.perform_later()
    assert isinstance(job, TwiceJob)
    assert _status(job.job_id) == "queued"  # written at enqueue, before any worker
    with run_worker(aj_app):
        wait_for(lambda: _status(job.job_id) == "retrying", timeout=30)
        wait_for(lambda: _status(job.job_id) == "succeeded", timeout=30)
    assert aj_job_buffer.values == [1, 2]


def test_status_ends_discarded_or_dead(aj_app: Celery) -> None:
    class DiscardedJob(ApplicationJob):
        discard_on(Gone)

        def perform(self) -> None:
            raise Gone("gone")

    class DeadJob(ApplicationJob):
        def perform(self) -> None:
            raise RuntimeError("boom")

    with run_worker(aj_app):
        discarded = DiscardedJob.perform_later()
        dead = DeadJob.perform_later()
        assert isinstance(discarded, DiscardedJob) and isinstance(dead, DeadJob)
        wait_for(lambda: _status(discarded.job_id) == "discarded", timeout=30)
        wait_for(lambda: _status(dead.job_id) == "dead", timeout=30)


def test_a_scheduled_job_shows_scheduled_and_cancel_removes_it(aj_app: Celery) -> None:
    class LaterJob(ApplicationJob):
        def perform(self) -> None: ...

    job = LaterJob.set(wait=3600).perform_later()
    assert isinstance(job, LaterJob)
    found = job_status(job.job_id)
    assert found is not None and found["status"] == "scheduled" and found["run_at"] > 0
    assert scheduled_set_for(aj_app).get(job.job_id) is not None
    told = cancel(job.job_id)
    assert told == {"job_id": job.job_id, "status_before": "scheduled", "unscheduled": 1}
    assert scheduled_set_for(aj_app).get(job.job_id) is None
    assert _status(job.job_id) == "cancelled"


def test_a_job_cancelled_while_no_worker_is_up_does_not_run(
    aj_app: Celery, aj_job_buffer: JobBuffer, caplog: pytest.LogCaptureFixture
) -> None:
    class QueuedJob(ApplicationJob):
        def perform(self, tag: str) -> None:
            aj_job_buffer.add(tag)

    cancelled = QueuedJob.perform_later("cancelled")
    assert isinstance(cancelled, QueuedJob)
    assert cancel(cancelled.job_id)["status_before"] == "queued"
    with caplog.at_level(logging.INFO, logger="activejob_celery.status"), run_worker(aj_app):
        QueuedJob.perform_later("after")
        wait_for(lambda: aj_job_buffer.values == ["after"], timeout=30)
    assert _status(cancelled.job_id) == "cancelled"
    assert f"Cancelled job {QueuedJob.job_name} (job_id {cancelled.job_id}) not run" in caplog.text
    from activejob_celery.dead_letters import store_for

    assert store_for(aj_app).count() == 0  # not a dead letter


def test_a_running_job_cancelled_runs_to_its_end_and_is_not_retried(
    aj_app: Celery, aj_redis: Any, aj_job_buffer: JobBuffer
) -> None:
    url = aj_redis.url

    class LongJob(ApplicationJob):
        retry_on(Flaky, wait=0, attempts=5)

        def perform(self, fail: bool) -> None:
            aj_job_buffer.add(self.executions)
            _wait_key(url, "go:long")
            if fail:
                raise Flaky("would retry")

    with run_worker(aj_app):
        job = LongJob.perform_later(True)
        assert isinstance(job, LongJob)
        wait_for(lambda: _status(job.job_id) == "running", timeout=30)
        assert cancel(job.job_id)["status_before"] == "running"
        assert _status(job.job_id) == "running"  # it runs on to its end
        redis.Redis.from_url(url).set("go:long", "1")
        wait_for(lambda: _status(job.job_id) == "cancelled", timeout=30)
        # Its retry was published; the worker takes it and drops it without running it.
        wait_for(lambda: scheduled_set_for(aj_app).get(job.job_id) is None, timeout=30)
        LongJob.perform_later(False)  # a later job runs: the cancelled one's retry came first
        redis.Redis.from_url(url).set("go:long", "1")
        wait_for(lambda: len(aj_job_buffer.values) == 2, timeout=30)
    assert aj_job_buffer.values == [1, 1]
    assert _status(job.job_id) == "cancelled"


def test_progress_is_sent_as_a_celery_task_progress_event(aj_app: Celery, aj_redis: Any) -> None:
    """What Flower and ``celery events`` consumers see: a custom ``task-progress`` event."""
    seen: list[dict[str, Any]] = []
    connection = aj_app.connection_for_read()
    receiver = aj_app.events.Receiver(connection, handlers={"task-progress": seen.append})
    thread = threading.Thread(
        target=lambda: receiver.capture(limit=None, timeout=None, wakeup=False), daemon=True
    )
    url = aj_redis.url

    class EventJob(ApplicationJob):
        def perform(self) -> None:
            _wait_key(url, "go:event")
            self.progress(3, 4, "three of four")

    thread.start()
    client = redis.Redis.from_url(url)
    try:
        wait_for(lambda: client.scard("_kombu.binding.celeryev"), timeout=30)  # listening
        with run_worker(aj_app):
            job = EventJob.perform_later()
            assert isinstance(job, EventJob)
            client.set("go:event", "1")
            wait_for(lambda: seen, timeout=30, message="a task-progress event")
    finally:
        receiver.should_stop = True
        thread.join(5)
        connection.release()
    event = seen[0]
    assert (event["job_id"], event["done"], event["total"]) == (job.job_id, "3", "4")
    assert event["message"] == "three of four" and event["uuid"] == job.provider_job_id


def test_a_job_blocked_by_its_concurrency_limit_is_queued_until_it_runs(
    aj_app: Celery, aj_redis: Any
) -> None:
    url = aj_redis.url

    class OneAtATimeJob(ApplicationJob):
        limits_concurrency(to=1)

        def perform(self, key: str) -> None:
            _wait_key(url, key)

    first = OneAtATimeJob.perform_later("go:first")
    second = OneAtATimeJob.perform_later("go:second")  # parked in Redis: the slot is taken
    assert isinstance(first, OneAtATimeJob) and isinstance(second, OneAtATimeJob)
    assert (_status(first.job_id), _status(second.job_id)) == ("queued", "queued")
    client = redis.Redis.from_url(url)
    with run_worker(aj_app):
        wait_for(lambda: _status(first.job_id) == "running", timeout=30)
        assert _status(second.job_id) == "queued"
        client.set("go:first", "1")
        wait_for(lambda: _status(second.job_id) == "running", timeout=30)
        client.set("go:second", "1")
        wait_for(lambda: _status(second.job_id) == "succeeded", timeout=30)
    assert _status(first.job_id) == "succeeded"
