"""The recurring example's Celery app: beat (with RedBeat) enqueues the jobs in recurring.yml.

The broker, and RedBeat's Redis, is ``$RECURRING_REDIS_URL`` (default ``redis://localhost:6379/0``);
the recurring.yml section is ``$APP_ENV`` (default ``development``), as Solid Queue uses RAILS_ENV.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

import activejob_celery

REDIS_URL = os.environ.get("RECURRING_REDIS_URL", "redis://localhost:6379/0")

# `include` makes the worker, beat and `celery -A app jobs ...` import the job classes.
app = Celery("recurring_example", broker=REDIS_URL, include=["jobs"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    # RedBeat: its own Redis URL (the broker fallback is deprecated), a short loop so a change
    # synced from the CLI is seen within seconds, and a lock a standby beat can take over from
    # within 5 loops if this beat dies.
    redbeat_redis_url=REDIS_URL,
    beat_max_loop_interval=5,
    redbeat_lock_timeout=25,
    activejob_recurring_schedule=str(Path(__file__).with_name("recurring.yml")),
    activejob_recurring_environment=os.environ.get("APP_ENV", "development"),
)
activejob_celery.init_app(app)
