"""The Celery app of ``benchmarks/scheduled.py``: its job, its plain task, one app per side.

The driver (``scheduled.py``) builds one app per side with :func:`make_app`; each side's worker
is ``celery -A scheduled_app worker`` with ``AJ_BENCH_SIDE`` (``set``, ``celery`` or ``eta``)
and ``AJ_BENCH_REDIS_URL`` in its environment, which make this module's ``app``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready

import activejob_celery
from activejob_celery import ApplicationJob

SIDE = os.environ.get("AJ_BENCH_SIDE", "set")
URL = os.environ.get("AJ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
_client = redis.Redis.from_url(URL)


class BenchJob(ApplicationJob):
    job_name = "bench.job"

    def perform(self, number: int, record: bool = False) -> None:
        if record and self.scheduled_at is not None:
            _client.rpush("bench:late", repr(time.time() - self.scheduled_at.timestamp()))
        _client.incr("bench:done")


def plain(number: int, due: float | None = None) -> None:
    if due is not None:
        _client.rpush("bench:late", repr(time.time() - due))
    _client.incr("bench:done")


def make_app(side: str, url: str) -> Celery:
    """JSON, no results, Celery defaults otherwise (prefetch 4); "set" is a jobs app."""
    celery_app = Celery("aj_bench", broker=url, set_as_current=False)
    celery_app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        activejob_log_arguments=False,
    )
    celery_app.task(name="bench.plain")(plain)
    if os.environ.get("AJ_BENCH_RELEASE_AHEAD"):  # 0: the window off, as before it existed
        celery_app.conf.activejob_release_ahead = float(os.environ["AJ_BENCH_RELEASE_AHEAD"])
    if os.environ.get("AJ_BENCH_TRACK_STATUS") == "0":  # as the jobs+ETA side (no set: no status)
        celery_app.conf.activejob_track_status = False
    if side != "celery":
        celery_app.conf.activejob_scheduler = "celery" if side == "eta" else "redis"
        activejob_celery.init_app(celery_app)
    return celery_app


@worker_ready.connect
def _ready(**kwargs: Any) -> None:
    _client.set("bench:ready", os.getpid())


if os.environ.get("AJ_BENCH_SIDE"):  # `celery -A scheduled_app worker`, one per side
    app = make_app(SIDE, URL)
