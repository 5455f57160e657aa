"""A user-style app for `celery -A tests.integration.apps.events_app worker -E` tests.

Task events on (``worker_send_task_events``), dead letters on the broker's Redis. The broker URL
comes from ``$AJ_EVENTS_REDIS_URL``.
"""

from __future__ import annotations

import os

from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, retry_on

REDIS_URL = os.environ.get("AJ_EVENTS_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("events_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=True,
    task_send_sent_event=True,
    activejob_dead_letters_url=REDIS_URL,
)
activejob_celery.init_app(app)


class Flaky(Exception):
    """What ``FlakyEventsJob`` raises on its first run."""


class FlakyEventsJob(ApplicationJob):
    """Fails on its first run, then succeeds after a 1-second retry."""

    retry_on(Flaky, wait=1, attempts=3, jitter=0)

    def perform(self) -> str:
        if self.executions < 2:
            raise Flaky("first run fails")
        return "ok"


class BrokenJob(ApplicationJob):
    """Always fails, with no handler: one failure, one dead letter."""

    def perform(self, order_id: int) -> None:
        raise ValueError(f"order {order_id} is broken")
