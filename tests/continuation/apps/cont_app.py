"""``celery -A tests.continuation.apps.cont_app worker``: a continuable job over 1 000 items.

The broker URL comes from ``$AJ_CONT_REDIS_URL``; each item processed is counted in the Redis
hash ``cont:items`` (item -> times processed), each execution's first cursor in ``cont:starts``.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, Continuable, queue_as

REDIS_URL = os.environ.get("AJ_CONT_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("cont_app", broker=REDIS_URL)
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
activejob_celery.init_app(app)

_client = redis.Redis.from_url(REDIS_URL)


class ItemsJob(Continuable, ApplicationJob):
    """Processes items 0..total-1, one checkpoint per item."""

    queue_as("cont")
    resume_options: ClassVar[dict[str, Any]] = {"wait": 1}

    def perform(self, total: int, pause: float) -> None:
        self.step("prepare", lambda: _client.rpush("cont:prepared", os.getpid()))

        @self.step("process", start=0)
        def _(step: Any) -> None:
            _client.rpush("cont:starts", f"{step.cursor}:{self.resumptions}:{os.getpid()}")
            for item in range(step.cursor, total):
                _client.hincrby("cont:items", str(item), 1)
                time.sleep(pause)
                step.advance(from_=item)

        self.step("finish", lambda: _client.rpush("cont:finished", self.resumptions))
