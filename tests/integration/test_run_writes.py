"""A run's status and listing: one write at its start (reply read later), one at its end."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import redis
import redis.sentinel
from celery import Celery

from activejob_celery import ApplicationJob
from activejob_celery.config import Settings
from activejob_celery.deferred_replies import DeferredReplies
from activejob_celery.interruptions import Start, ledger_for
from activejob_celery.run_marks import Ledger, MemoryLedger
from activejob_celery.run_writes import Opening, _same_redis, close_run, open_run, started
from activejob_celery.running import store_for
from activejob_celery.running.tracking import worker_hostname
from activejob_celery.status import cancel, job_status
from activejob_celery.status.tracking import CANCELLED, RunTracker
from tests.support.worker import wait_for


class RunWritesJob(ApplicationJob):
    job_name = "tests.RunWritesJob"

    def perform(self) -> None:
        pass


def _task(app: Celery, task_id: str) -> Any:
    return SimpleNamespace(app=app, request=SimpleNamespace(id=task_id, hostname="w1@test"))


def test_send_all_and_collect_hand_back_error_replies_without_raising(aj_redis: Any) -> None:
    client = redis.Redis.from_url(aj_redis.url)
    replies = DeferredReplies(client)
    assert replies.send_all(("SET", "rw:a", "x"), ("HSET", "rw:a", "f", "v")) == []
    replies.send_all(("GET", "rw:a"))
    ok, wrong, value = replies.collect()
    assert ok == b"OK" and isinstance(wrong, redis.ResponseError) and value == b"x"
    assert replies.collect() == []  # nothing due any more
    client.close()


def test_a_run_is_written_at_its_start_and_end_without_waiting_at_the_end(aj_app: Celery) -> None:
    job, task = RunWritesJob(), _task(aj_app, "task-rw-1")
    running = store_for(aj_app)
    assert running is not None
    busy = running.busy_key(worker_hostname(task))
    opening = open_run(job, task)
    assert opening is not None and opening.listed is not None
    run = started(opening, job, task)
    assert isinstance(run, RunTracker) and job._status_run is run
    assert (job_status(job.job_id, app=aj_app) or {})["status"] == "running"
    assert running.client.hexists(busy, "task-rw-1")

    close_run(opening, run, "succeeded")
    assert opening.deferred is not None
    # One joined command, unlisting and outcome: sent, its reply not read until now.
    assert opening.deferred.collect() == [[1, b"succeeded"]]
    assert (job_status(job.job_id, app=aj_app) or {})["status"] == "succeeded"
    assert not running.client.hexists(busy, "task-rw-1")


def test_a_job_cancelled_before_its_start_is_neither_run_nor_listed(aj_app: Celery) -> None:
    job, task = RunWritesJob(), _task(aj_app, "task-rw-2")
    cancel(job.job_id, app=aj_app)
    running = store_for(aj_app)
    assert running is not None
    opening = open_run(job, task)
    assert opening is not None
    assert started(opening, job, task) == CANCELLED
    assert opening.listed is None
    assert (job_status(job.job_id, app=aj_app) or {})["status"] == "cancelled"
    assert not running.client.hexists(running.busy_key(worker_hostname(task)), "task-rw-2")


def test_the_run_mark_rides_with_the_start_and_a_second_delivery_is_told(aj_app: Celery) -> None:
    ledger = ledger_for(aj_app)
    assert ledger is not None
    job, task = RunWritesJob(), _task(aj_app, "task-rw-3")
    for delivery, expected in ((1, Start(False, 0)), (2, Start(True, 1))):
        opening = open_run(job, task, (ledger, "task-rw-3#0"))
        assert opening is not None and opening.marked is not None, delivery
        assert isinstance(started(opening, job, task), RunTracker)
        assert opening.start == expected
        assert ledger.client.hget(ledger.key(job.job_id), "task") == b"task-rw-3#0"


def test_an_end_write_that_fails_is_logged_by_the_next_run(aj_app: Celery, caplog: Any) -> None:
    running = store_for(aj_app)
    assert running is not None
    job, task = RunWritesJob(), _task(aj_app, "task-rw-4")
    opening = open_run(job, task)
    assert opening is not None
    run = started(opening, job, task)
    assert isinstance(run, RunTracker)
    running.client.set(running.busy_key(worker_hostname(task)), "not a hash")  # HDEL will fail
    close_run(opening, run, "succeeded")  # sent, not waited for: read it once it landed
    wait_for(lambda: (job_status(job.job_id, app=aj_app) or {})["status"] == "succeeded")
    running.client.delete(running.busy_key(worker_hostname(task)))
    with caplog.at_level(logging.WARNING, logger="activejob_celery.status"):
        following, other = RunWritesJob(), _task(aj_app, "task-rw-5")
        assert started(open_run(following, other) or Opening(None, None, None), following, other)
    assert any("WRONGTYPE" in record.getMessage() for record in caplog.records)


def test_the_mark_rides_along_only_to_the_same_server_and_database(aj_redis: Any) -> None:
    ledger = Ledger(redis.Redis.from_url(aj_redis.url), Settings())
    assert _same_redis(ledger, redis.Redis.from_url(aj_redis.url))  # another client, same place
    other_db = aj_redis.server.url(aj_redis.db % 15 + 1)
    assert not _same_redis(ledger, redis.Redis.from_url(other_db))
    sentinel = redis.sentinel.Sentinel([("127.0.0.1", 1)])
    pool = redis.sentinel.SentinelConnectionPool("jobs", sentinel)
    assert not _same_redis(ledger, redis.Redis(connection_pool=pool))
    assert not _same_redis(MemoryLedger(Settings()), redis.Redis.from_url(aj_redis.url))
