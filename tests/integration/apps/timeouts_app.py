"""The app of the timeout and async-job worker tests (`celery -A ... worker`, any pool).

Jobs write JSON records to the Redis list ``to:events``; hard limit = timeout + 1 s grace.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from typing import Any

import redis
from celery import Celery, signals

import activejob_celery
from activejob_celery import (
    ApplicationJob,
    JobTimeoutError,
    after_discard,
    async_loops,
    discard_on,
    queue_as,
    retry_on,
)

REDIS_URL = os.environ.get("AJ_TIMEOUTS_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("timeouts_app", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    activejob_dead_letters_url=REDIS_URL,
    activejob_timeout_grace=1,
    activejob_async_concurrency=int(os.environ.get("AJ_ASYNC_CONCURRENCY", "1")),
)
activejob_celery.init_app(app)

_clients: dict[int, redis.Redis] = {}


def record(job: Any, what: str, **extra: Any) -> None:
    pid = os.getpid()
    if pid not in _clients:  # one per (forked) process
        _clients[pid] = redis.Redis.from_url(REDIS_URL)
    entry = {"job": type(job).__name__, "what": what, "executions": job.executions, **extra}
    _clients[pid].rpush("to:events", json.dumps(entry))


class Boom(Exception):
    pass


class LoopingTimeoutJob(ApplicationJob):
    """Short sleeps in a loop; its timeout is retried once, then given up."""

    queue_as("timeouts")
    timeout = 1

    @retry_on(JobTimeoutError, wait=0, attempts=2, jitter=0)
    def gave_up(self, error: Exception) -> None:
        record(self, f"gave_up:{type(error).__name__}")

    def perform(self) -> None:
        record(self, "start")
        for _ in range(200):
            time.sleep(0.05)
        record(self, "finished")


class SleepingTimeoutJob(ApplicationJob):
    """One long sleep; its timeout is discarded."""

    queue_as("timeouts")
    timeout = 1
    discard_on(JobTimeoutError)

    @after_discard
    def noted(self, error: Exception) -> None:
        record(self, f"discarded:{type(error).__name__}")

    def perform(self) -> None:
        record(self, "start", alarm=repr(signal.getsignal(signal.SIGALRM)))
        time.sleep(4)
        record(self, "finished")


class StubbornJob(ApplicationJob):
    """Swallows its JobTimeoutError and keeps going: the hard limit kills it (prefork)."""

    queue_as("timeouts")
    timeout = 1

    def perform(self) -> None:
        record(self, "start")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
            except JobTimeoutError:
                record(self, "swallowed")
        record(self, "finished")


class ChosenTimeoutJob(ApplicationJob):
    """No class timeout: ``set(timeout=...)`` gives one enqueue its own, soft and hard."""

    queue_as("timeouts")
    discard_on(JobTimeoutError)

    @after_discard
    def noted(self, error: Exception) -> None:
        record(self, f"discarded:{type(error).__name__}", name=self.arguments[0])

    def perform(self, name: str, swallow: bool = False) -> None:
        record(self, "start", name=name)
        deadline = time.monotonic() + (20 if swallow else 2.5)
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
            except JobTimeoutError:
                if not swallow:
                    raise
                record(self, "swallowed", name=name)
        record(self, "finished", name=name)


class AsyncJob(ApplicationJob):
    queue_as("timeouts")

    async def perform(self, number: int) -> None:
        await asyncio.sleep(0.01)
        loop = id(asyncio.get_running_loop())
        where = f"{os.getpid()}:{threading.get_ident()}"
        record(self, f"async:{number}", loop=loop, where=where)


class OverlappingJob(ApplicationJob):
    """Counts how many of its runs are in ``perform`` at once (peak in ``to:peak``)."""

    queue_as("timeouts")

    async def perform(self, number: int) -> None:
        client = redis.Redis.from_url(REDIS_URL)
        running = client.incr("to:running")
        client.eval(
            "if tonumber(redis.call('get', KEYS[1]) or 0) < tonumber(ARGV[1]) then "
            "redis.call('set', KEYS[1], ARGV[1]) end",
            1, "to:peak", running,
        )  # fmt: skip
        await asyncio.sleep(0.5)
        client.decr("to:running")
        loop = id(asyncio.get_running_loop())
        record(self, f"overlap:{number}", loop=loop, where=f"{os.getpid()}")


class SyncCountingJob(ApplicationJob):
    """A sync job beside them: counts sync runs at once (peak in ``to:sync_peak``)."""

    queue_as("timeouts")

    def perform(self, number: int) -> None:
        client = redis.Redis.from_url(REDIS_URL)
        running = client.incr("to:sync_running")
        client.eval(
            "if tonumber(redis.call('get', KEYS[1]) or 0) < tonumber(ARGV[1]) then "
            "redis.call('set', KEYS[1], ARGV[1]) end",
            1, "to:sync_peak", running,
        )  # fmt: skip
        time.sleep(0.2)
        client.decr("to:sync_running")
        record(self, f"sync:{number}")


class AsyncTimeoutJob(ApplicationJob):
    queue_as("timeouts")
    timeout = 1
    discard_on(JobTimeoutError)

    @after_discard
    async def noted(self, error: Exception) -> None:
        await asyncio.sleep(0)
        record(self, f"discarded:{type(error).__name__}")

    async def perform(self) -> None:
        record(self, "start")
        await asyncio.sleep(20)
        record(self, "finished")


class AsyncFailingJob(ApplicationJob):
    queue_as("timeouts")

    @retry_on(Boom, wait=0, attempts=2, jitter=0)
    def gave_up(self, error: Exception) -> None:
        record(self, f"gave_up:{type(error).__name__}")

    async def perform(self) -> None:
        record(self, "start")
        raise Boom("async")


def _loops_at_exit(**_: Any) -> None:
    # Runs after the package's own shutdown receiver (connected when it was imported).
    loops = list(async_loops._loops)
    if loops:
        redis.Redis.from_url(REDIS_URL).rpush(
            "to:shutdown", json.dumps([loop.is_closed() for loop in loops])
        )


signals.worker_process_shutdown.connect(_loops_at_exit, weak=False)
signals.worker_shutdown.connect(_loops_at_exit, weak=False)
