"""The app the benchmarks drive: plain Celery tasks and their job twins, on one broker.

Imported by the driver and by the `celery -A bench_app worker` subprocesses it starts. The broker
and queue come from ``$BENCH_REDIS_URL`` and ``$BENCH_QUEUE``. Settings are Celery's defaults
(prefetch 4, JSON, no results) so plain tasks and jobs are measured under the same conditions;
job tasks acknowledge late, as the package's reliability default. Plain tasks are drained by a
worker without the package (``BENCH_PURE_CELERY=1``), and once more by the package's worker.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, log_subscriber, queue_as, retry_on

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")
QUEUE = os.environ.get("BENCH_QUEUE", "bench")
COUNTER_KEY = f"{QUEUE}:done"
LATENCY_KEY = f"{QUEUE}:lat"

app = Celery("bench_app", broker=REDIS_URL)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    activejob_default_queue_name=QUEUE,
    # BENCH_PLAIN_ACKS_LATE=1 gives plain tasks the jobs' reliability default, to compare like
    # with like (Celery acknowledges before running a task unless told otherwise).
    task_acks_late=os.environ.get("BENCH_PLAIN_ACKS_LATE") == "1",
)
if os.environ.get("BENCH_TRACK_STATUS") == "0":
    # Status and cancel off (the running-jobs listing and run marks stay): what it saves a run.
    app.conf.activejob_track_status = False
PURE_CELERY = os.environ.get("BENCH_PURE_CELERY") == "1"
if not PURE_CELERY:
    # BENCH_PURE_CELERY=1 starts a worker of plain Celery, without the package (the baseline
    # a team moving from Celery compares with): its tasks run with kombu's own fetch and acks.
    activejob_celery.init_app(app)
if os.environ.get("BENCH_JOB_LOGS") != "1":
    # Plain Celery at -l warning logs nothing per task; measure jobs the same way.
    log_subscriber.detach()

_client: redis.Redis | None = None


def client() -> redis.Redis:
    """One Redis client per (forked) process, made after the fork."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(REDIS_URL)
    return _client


@app.task(name="bench.noop")
def noop(i: int) -> None:
    """A no-op task (enqueue phases never run it)."""


@app.task(name="bench.count")
def count(i: int) -> None:
    """A no-op plus one INCR, so the driver can count completions."""
    client().incr(COUNTER_KEY)


@app.task(name="bench.count_late", acks_late=True)
def count_late(i: int) -> None:
    """``bench.count`` acknowledged after it runs, as jobs are (the like-for-like baseline)."""
    client().incr(COUNTER_KEY)


@app.task(name="bench.stamp")
def stamp(i: int, enqueued: float) -> None:
    """Record (i, enqueue time, execution time) for latency."""
    client().rpush(LATENCY_KEY, f"{i}|{enqueued!r}|{time.time()!r}")


class NoopJob(ApplicationJob):
    """The job twin of ``bench.noop``."""

    queue_as(QUEUE)
    job_name = "bench.NoopJob"

    def perform(self, i: int) -> None:
        pass


class CountJob(ApplicationJob):
    """The job twin of ``bench.count``."""

    queue_as(QUEUE)
    job_name = "bench.CountJob"

    def perform(self, i: int) -> None:
        client().incr(COUNTER_KEY)


class StampJob(ApplicationJob):
    """The job twin of ``bench.stamp``."""

    queue_as(QUEUE)
    job_name = "bench.StampJob"

    def perform(self, i: int, enqueued: float) -> None:
        client().rpush(LATENCY_KEY, f"{i}|{enqueued!r}|{time.time()!r}")


class FlakyJob(ApplicationJob):
    """Fails on its first run and is retried at once; counts its successful second run."""

    queue_as(QUEUE)
    job_name = "bench.FlakyJob"
    retry_on(ConnectionError, wait=0, attempts=2, jitter=0)

    def perform(self, i: int) -> None:
        if self.executions == 1:
            raise ConnectionError("first run fails")
        client().incr(COUNTER_KEY)


@app.task(name="bench.flaky", bind=True)
def flaky(self: object, i: int) -> None:
    """Plain Celery's retry flow: fail once, ``self.retry(countdown=0)``, then count."""
    if self.request.retries == 0:  # type: ignore[attr-defined]
        raise self.retry(countdown=0, max_retries=1)  # type: ignore[attr-defined]
    client().incr(COUNTER_KEY)


if os.environ.get("BENCH_MODELS_DB"):
    # The models phase only: its worker needs the Django-backed twins registered (the other
    # phases' workers stay without Django, so their RSS is unchanged).
    import bench_models  # noqa: F401
