"""Helpers of ``benchmarks/scheduled.py``: one side's workers, enqueues and measures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import measures
import redis
from scheduled_app import BenchJob, make_app

import activejob_celery

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children (the prefork pool), in MiB, from /proc (Linux)."""
    return measures.rss_mb(pid)[1]


def wait(predicate: Any, timeout: float, what: str, fail: bool = True) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            if fail:
                raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
            break
        time.sleep(0.05)
    return time.time()


def at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


class Worker:
    """``celery -A scheduled_app worker --pool prefork -c 2 -l warning`` for one side."""

    def __init__(self, side: str, url: str, client: redis.Redis) -> None:
        client.delete("bench:ready")
        env = {**os.environ, "AJ_BENCH_SIDE": side, "AJ_BENCH_REDIS_URL": url}
        env["PYTHONPATH"] = str(ROOT)
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "scheduled_app",
            "worker",
            "--pool",
            "prefork",
        ]
        args += ["-c", "2", "-l", "warning", "--without-gossip", "--without-mingle"]
        self.log = open(f"/tmp/aj-bench-scheduled-{side}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*args, "--without-heartbeat"], cwd=HERE, env=env, stdout=self.log, stderr=self.log
        )
        wait(lambda: client.get("bench:ready"), 120, f"the {side} worker")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class Side:
    """One side on its own database: its driver app and a Redis client."""

    def __init__(self, server: Any, name: str, db: int) -> None:
        self.server, self.name, self.db = server, name, db
        self.url = server.url(db)
        self.client = server.client(db)
        self.client.flushdb()
        self.app = make_app(name, self.url)

    def worker(self) -> Worker:
        return Worker(self.name, self.url, self.client)

    def idle_rss(self, db: int) -> float:
        empty = self.server.client(db)
        empty.flushdb()
        worker = Worker(self.name, self.server.url(db), empty)
        time.sleep(3)
        rss = rss_mb(worker.proc.pid)
        worker.stop()
        return rss

    def activate(self) -> None:
        """Jobs enqueue through the app ``init_app`` saw last: make it this side's."""
        from activejob_celery.adapters import named_adapter

        if self.name != "celery" and getattr(named_adapter("celery"), "app", None) is not self.app:
            activejob_celery.init_app(self.app)

    def enqueue_one_by_one(self, numbers: range) -> None:
        self.activate()
        task = self.app.tasks["bench.plain"]
        for number in numbers:
            if self.name == "set":
                BenchJob.set(wait=600).perform_later(number)
            else:
                task.apply_async((number,), countdown=600)

    def enqueue_bulk(self, numbers: range, due: Any, record: bool = False) -> None:
        """Many jobs due at ``due(number)``: perform_all_later, or apply_async in a batch."""
        self.activate()
        if self.name != "celery":
            for start in range(numbers.start, numbers.stop, 1000):
                jobs = [BenchJob(n, record) for n in range(start, min(start + 1000, numbers.stop))]
                for job in jobs:
                    job.scheduled_at = at(due(job.arguments[0]))
                activejob_celery.perform_all_later(jobs)
            return
        task = self.app.tasks["bench.plain"]
        with self.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
            for number in numbers:
                when = due(number)
                args = (number, when) if record else (number,)
                task.apply_async(args, eta=at(when), producer=producer)

    def done(self) -> int:
        return int(self.client.get("bench:done") or 0)
