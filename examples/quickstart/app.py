"""The quickstart's Celery app: ``celery -A app worker`` runs the jobs in ``jobs.py``.

The broker is ``$QUICKSTART_BROKER_URL`` (default ``redis://localhost:6379/0``).
"""

from __future__ import annotations

import os

from celery import Celery

import activejob_celery

BROKER_URL = os.environ.get("QUICKSTART_BROKER_URL", "redis://localhost:6379/0")

# `include` makes the worker (and beat) import the job classes, as Rails autoloads app/jobs.
app = Celery("quickstart", broker=BROKER_URL, include=["jobs"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    # Solid Queue's recurring.yml, as a mapping. `celery -A app beat -S redbeat.RedBeatScheduler`
    # enqueues CleanupJob on this schedule (run_demo.py makes it "every second").
    activejob_recurring_schedule={
        "cleanup": {
            "class": "CleanupJob",
            "schedule": os.environ.get("QUICKSTART_CLEANUP_SCHEDULE", "every minute"),
        },
    },
)
activejob_celery.init_app(app)
