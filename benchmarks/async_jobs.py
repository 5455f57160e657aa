"""Benchmark ``async def perform``: 1 000 jobs that each await a 10 ms sleep, on one worker.

Starts a private redis-server, then per mode starts one worker subprocess, enqueues the jobs
with ``perform_all_later`` and times until the last one finished. Modes:

* ``solo``: a solo worker, ``activejob_async_concurrency`` 1 (Rails' one job at a time);
* ``solo-N``: a solo worker with ``activejob_async_concurrency`` N: N async jobs at once on
  one event loop;
* ``threads-N``: ``--pool threads --concurrency N``: N jobs at once, one event loop per thread.

Usage:
    .venv/bin/python benchmarks/async_jobs.py                    # 1 000 jobs, threads-50
    .venv/bin/python benchmarks/async_jobs.py --n 2000 --threads 20,50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import redis  # noqa: E402
from celery import Celery  # noqa: E402

import activejob_celery  # noqa: E402
from activejob_celery import ApplicationJob, perform_all_later, queue_as  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/0")
DONE_KEY = "async_bench:done"


def make_app(url: str) -> Celery:
    """The benchmark's Celery app on ``url``; ``perform_later`` publishes through it from now."""
    celery_app = Celery("async_jobs", broker=url)
    celery_app.conf.update(
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        activejob_async_concurrency=int(os.environ.get("BENCH_ASYNC_CONCURRENCY", "1")),
    )
    activejob_celery.init_app(celery_app)
    return celery_app


app = make_app(REDIS_URL)
_clients: dict[int, redis.Redis] = {}


class SleepyJob(ApplicationJob):
    """Awaits a 10 ms sleep, then counts itself done."""

    job_name = "async_jobs.SleepyJob"  # the same in the driver (__main__) and the worker
    queue_as("async_bench")

    async def perform(self) -> None:
        await asyncio.sleep(0.01)
        pid = os.getpid()
        if pid not in _clients:
            _clients[pid] = redis.Redis.from_url(REDIS_URL)
        _clients[pid].incr(DONE_KEY)


def measure(mode: str, n: int, url: str) -> float:
    """Jobs per second of one worker in ``mode`` (``solo`` or ``threads-N``)."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    pool, _, size = mode.partition("-")
    env = {**os.environ, "BENCH_REDIS_URL": url, "PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}"}
    if pool == "solo" and size:  # solo-N: activejob_async_concurrency = N on a solo worker
        env["BENCH_ASYNC_CONCURRENCY"], size = size, "1"
    args = [sys.executable, "-m", "celery", "-A", "async_jobs", "worker", "-Q", "async_bench",
            "--pool", pool, "--concurrency", size or "1", "--loglevel", "WARNING",
            "--without-mingle", "--without-gossip", "--without-heartbeat"]  # fmt: skip
    worker = subprocess.Popen(
        args, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        jobs = [SleepyJob() for _ in range(20)]
        perform_all_later(jobs)  # warm up, and wait until consuming
        assert all(job.successfully_enqueued for job in jobs), jobs[0].enqueue_error
        while int(client.get(DONE_KEY) or 0) < 20:
            time.sleep(0.05)
        client.delete(DONE_KEY)
        started = time.perf_counter()
        perform_all_later([SleepyJob() for _ in range(n)])
        while int(client.get(DONE_KEY) or 0) < n:
            time.sleep(0.01)
        return n / (time.perf_counter() - started)
    finally:
        worker.terminate()
        worker.wait(30)


def main() -> None:
    """Run every mode once and print jobs/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", default="50", help="concurrencies to run, e.g. 20,50")
    options = parser.parse_args()
    from tests.support.redis_server import RedisServer

    with RedisServer.start_private() as server:
        url = server.url(0)
        make_app(url)
        sizes = options.threads.split(",")
        modes = (
            ["solo"] + [f"solo-{size}" for size in sizes] + [f"threads-{size}" for size in sizes]
        )
        for mode in modes:
            rate = measure(mode, options.n, url)
            print(f"{mode:>12}: {rate:8.1f} jobs/s  ({options.n} jobs awaiting 10 ms each)")


if __name__ == "__main__":
    main()
