"""A user-style app for ``celery -A tests.running.running_app worker`` (Redis from the env)."""

from __future__ import annotations

import os

from celery import Celery

import activejob_celery
import tests.running.jobs  # noqa: F401  (the job classes the tests enqueue)

REDIS_URL = os.environ["AJ_RUNNING_REDIS_URL"]

app = Celery("running_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    activejob_dead_letters_url=REDIS_URL,
    activejob_worker_heartbeat_interval=float(os.environ.get("AJ_RUNNING_HEARTBEAT", "5")),
)
activejob_celery.init_app(app)
