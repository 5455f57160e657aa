"""A user-style app for `celery -A tests.integration.apps.quick_app worker` subprocess tests.

The broker URL comes from ``$AJ_QUICK_REDIS_URL``; jobs record what they did in Redis lists.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, queue_as, retry_on

REDIS_URL = os.environ.get("AJ_QUICK_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("quick_app", broker=REDIS_URL)
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
activejob_celery.init_app(app)


def _client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


class HelloJob(ApplicationJob):
    """Records its argument and execution count."""

    def perform(self, name: str, *, times: int = 1) -> None:
        _client().rpush("quick:hello", f"{name}:{times}:{self.executions}:{self.job_id}")


class ReportJob(ApplicationJob):
    """Lives on its own queue, which a worker without -Q must consume too."""

    queue_as("reports")

    def perform(self, number: int) -> None:
        _client().rpush("quick:reports", str(number))


class FlakyJob(ApplicationJob):
    """Fails on its first run, then succeeds after a 1-second retry."""

    retry_on(ConnectionError, wait=1, attempts=3, jitter=0)

    def perform(self, key: str) -> None:
        _client().rpush("quick:flaky", str(self.executions))
        if self.executions < 2:
            raise ConnectionError("first try fails")
