"""The app the job-death tests run as `celery -A tests.reliability.apps.deaths_app worker`.

Jobs write what they did to Redis lists under ``deaths:``. ``HangJob``'s task has a hard time
limit of 2 s. The retry handlers wait 0 s, so a retried job runs again at once.
"""

from __future__ import annotations

import json
import os
import signal
import time

import redis
from celery import Celery

import activejob_celery
from activejob_celery import UNLIMITED, ApplicationJob, JobInterruptedError, queue_as, retry_on

REDIS_URL = os.environ.get("AJ_DEATHS_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("deaths_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    activejob_dead_letters_url=REDIS_URL,
)
activejob_celery.init_app(app)

_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:  # one per (forked) process
        _client = redis.Redis.from_url(REDIS_URL)
    return _client


def note(job: ApplicationJob, what: str) -> None:
    record = {"job_id": job.job_id, "what": what, "executions": job.executions,
              "exception_executions": job.exception_executions}  # fmt: skip
    client().rpush("deaths:runs", json.dumps(record))


class HangJob(ApplicationJob):
    """Runs far longer than its task's hard time limit."""

    job_name = "deaths.HangJob"
    queue_as("deaths")

    def perform(self) -> None:
        note(self, "started")
        time.sleep(60)
        note(self, "finished")


class KillOnceJob(ApplicationJob):
    """Kills its own process on the first run; retried when the next run is interrupted."""

    job_name = "deaths.KillOnceJob"
    queue_as("deaths")
    retry_on(JobInterruptedError, wait=0, attempts=5, jitter=0)

    def perform(self) -> None:
        if client().set(f"deaths:killed:{self.job_id}", 1, nx=True):
            note(self, "killing")
            os.kill(os.getpid(), signal.SIGKILL)
        note(self, "finished")


class SelfKillJob(ApplicationJob):
    """Kills its own process every time; retried for ever when interrupted."""

    job_name = "deaths.SelfKillJob"
    queue_as("deaths")
    retry_on(JobInterruptedError, wait=0, attempts=UNLIMITED, jitter=0)

    def perform(self) -> None:
        note(self, "killing")
        os.kill(os.getpid(), signal.SIGKILL)


class MarkerJob(ApplicationJob):
    """Notes that it ran: everything queued before it has been handled."""

    job_name = "deaths.MarkerJob"
    queue_as("deaths")

    def perform(self) -> None:
        note(self, "finished")


app.tasks[HangJob.job_name].time_limit = 2
