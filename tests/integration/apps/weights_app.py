"""A user-style app for `celery -A tests.integration.apps.weights_app worker --queue-weights ...`.

The broker URL comes from ``$AJ_WEIGHTS_REDIS_URL``; extra settings as JSON from
``$AJ_WEIGHTS_CONF``. Each job records ``queue:priority`` in the list ``weights:ran`` as it runs.
"""

from __future__ import annotations

import json
import os

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, queue_as

REDIS_URL = os.environ.get("AJ_WEIGHTS_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("weights_app", broker=REDIS_URL)
app.conf.update(
    {
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        # one message fetched ahead: the fetch order is the run order
        "worker_prefetch_multiplier": 1,
        # reliable fetch on, as in a real deployment
        "activejob_dead_letters_url": REDIS_URL,
        **json.loads(os.environ.get("AJ_WEIGHTS_CONF", "{}")),
    }
)
activejob_celery.init_app(app)

_client: redis.Redis | None = None


class RecordingJob(ApplicationJob):
    """Records ``queue:priority`` in the list ``weights:ran``."""

    def perform(self) -> None:
        global _client
        if _client is None:
            _client = redis.Redis.from_url(REDIS_URL)
        _client.rpush("weights:ran", f"{self.queue_name}:{self.priority}")


class CriticalJob(RecordingJob):
    job_name = "weights_app.CriticalJob"
    queue_as("critical")


class DefaultJob(RecordingJob):
    job_name = "weights_app.DefaultJob"
    queue_as("default")


class LowJob(RecordingJob):
    job_name = "weights_app.LowJob"
    queue_as("low")
