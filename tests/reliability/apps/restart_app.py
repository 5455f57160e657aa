"""The worker app of the Redis restart test (``celery -A tests.reliability.apps.restart_app``).

Jobs record each run in a file, not in Redis: a job that runs while Redis is down must still
leave a trace. Recovery settings are the crash test's: messages a lost connection left unacked
come back after ``visibility_timeout`` (5 s), looked for every second; the embedded scheduler
poller looks at the scheduled set four times a second.
"""

from __future__ import annotations

import os
import time

from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, queue_as

REDIS_URL = os.environ.get("AJ_RESTART_REDIS_URL", "redis://127.0.0.1:6379/0")
RUNS_FILE = os.environ.get("AJ_RESTART_RUNS_FILE", os.devnull)
TRANSPORT_OPTIONS = {
    "visibility_timeout": 5,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

app = Celery("restart_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
    worker_prefetch_multiplier=4,
    broker_transport_options=dict(TRANSPORT_OPTIONS),
    activejob_scheduler_poll_interval=0.25,
)
activejob_celery.init_app(app)


class StreamJob(ApplicationJob):
    """Works ``seconds``, then appends ``<job_id> <label>`` to the runs file (one short write)."""

    job_name = "restart.StreamJob"
    queue_as("stream")

    def perform(self, label: str, seconds: float = 0.0) -> None:
        time.sleep(seconds)
        with open(RUNS_FILE, "a", encoding="utf-8") as runs:
            runs.write(f"{self.job_id} {label}\n")
