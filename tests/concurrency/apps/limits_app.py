"""The app the process tests run as ``celery -A tests.concurrency.apps.limits_app worker``.

Messages a killed worker held come back after ``visibility_timeout`` (5 s); the concurrency
maintenance pass runs every half second, so a dead holder's slot (``duration`` 3 s) frees soon.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, JobInterruptedError, queue_as, retry_on
from activejob_celery.concurrency import limits_concurrency

REDIS_URL = os.environ.get("AJ_LIMITS_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("limits_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=4,
    activejob_concurrency_maintenance_interval=0.5,
    broker_transport_options={
        "visibility_timeout": 5,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 10,
    },
)
activejob_celery.init_app(app)

_client: redis.Redis | None = None

_ENTER = """
local now = redis.call('INCR', KEYS[1])
if now > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], now) end
return now
"""


def client() -> redis.Redis:
    global _client
    if _client is None:  # one per (forked) process
        _client = redis.Redis.from_url(REDIS_URL)
    return _client


class AccountJob(ApplicationJob):
    """At most two per account at once; records how many ran together, per account."""

    queue_as("limits")
    limits_concurrency(to=2, key=lambda account, n: account)

    def perform(self, account: str, n: int) -> None:
        c = client()
        c.eval(_ENTER, 2, f"test:running:{account}", f"test:peak:{account}")
        time.sleep(0.01)
        c.decr(f"test:running:{account}")
        c.incr(f"test:done:{account}")


class HoldJob(ApplicationJob):
    """One at a time; the first run of ``hold`` blocks until its worker is killed."""

    queue_as("limits")
    limits_concurrency(to=1, duration=3)
    retry_on(JobInterruptedError, wait=0, attempts=3, jitter=0)

    def perform(self, name: str) -> None:
        client().rpush("test:started", name)
        if name == "hold" and self.executions == 1:
            time.sleep(120)  # killed before it ends
        client().rpush("test:finished", name)
