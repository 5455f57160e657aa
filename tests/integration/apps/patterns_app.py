"""A user-style app for `celery -A tests.integration.apps.patterns_app worker -Q '*'` tests.

The broker URL comes from ``$AJ_PATTERNS_REDIS_URL``; ``RecordJob`` records the queue it ran on.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob

REDIS_URL = os.environ.get("AJ_PATTERNS_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("patterns_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    activejob_queue_pattern_interval=0.5,
    activejob_dead_letters_url=REDIS_URL,  # reliable fetch on, as in a real deployment
)
activejob_celery.init_app(app)


class RecordJob(ApplicationJob):
    """Records ``label:queue`` in the list ``patterns:ran``."""

    job_name = "patterns_app.RecordJob"

    def perform(self, label: str) -> None:
        with redis.Redis.from_url(REDIS_URL) as client:
            client.rpush("patterns:ran", f"{label}:{self.queue_name}")
