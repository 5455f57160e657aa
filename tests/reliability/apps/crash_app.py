"""The app the crash tests run as `celery -A tests.reliability.apps.crash_app worker`.

Settings make recovery fast enough for a test: messages a dead worker held come back after
``visibility_timeout`` (5 s), and kombu looks for them every second instead of every ~100 s.
A worker killed during that look leaves kombu's restore lock behind; it expires after
``unacked_mutex_expire`` (10 s here, 300 s by default) instead of outlasting the test.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, JobInterruptedError, queue_as, retry_on

REDIS_URL = os.environ.get("AJ_CRASH_REDIS_URL", "redis://127.0.0.1:6379/1")
VISIBILITY_TIMEOUT = 5

app = Celery("crash_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=4,
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 10,
    },
)
activejob_celery.init_app(app)

_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:  # one per (forked) process
        _client = redis.Redis.from_url(REDIS_URL)
    return _client


class WorkJob(ApplicationJob):
    """A few milliseconds of work, then record the job id (and how often it ran)."""

    queue_as("crash")
    # A run cut off by the kill starts again with JobInterruptedError: run it once more.
    retry_on(JobInterruptedError, wait=0, attempts=3, jitter=0)

    def perform(self, seconds: float) -> None:
        time.sleep(seconds)
        pipe = client().pipeline()
        pipe.sadd("crash:done", self.job_id)
        pipe.hincrby("crash:runs", self.job_id, 1)
        pipe.execute()


class SlowJob(ApplicationJob):
    """Marks its start, works for a while, marks its end."""

    queue_as("crash")
    retry_on(JobInterruptedError, wait=0, attempts=3, jitter=0)

    def perform(self, seconds: float) -> None:
        client().rpush("crash:started", self.job_id)
        time.sleep(seconds)
        client().rpush("crash:finished", self.job_id)
