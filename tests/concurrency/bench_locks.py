"""What limits and unique locks cost: ``python -m tests.concurrency.bench_locks [jobs] [rounds]``.

The same no-op job three ways: plain, with ``limits_concurrency`` (a limit so high that nothing
blocks) and with ``unique`` (every job its own key). Each round enqueues ``jobs`` with
``perform_later`` (timed per job), then drains them with a solo worker (timed per job); kinds
alternate within a round so all see the same machine load. Target: within 1.25x of plain.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from typing import Any

from activejob_celery import ApplicationJob, limits_concurrency, signals, unique
from tests.support.fixtures import make_app
from tests.support.redis_server import RedisServer
from tests.support.worker import run_worker, wait_for


class BenchPlainJob(ApplicationJob):
    job_name = "bench.PlainJob"

    def perform(self, index: int) -> None:
        pass


class BenchLimitedJob(BenchPlainJob):
    job_name = "bench.LimitedJob"
    limits_concurrency(to=1_000_000)


class BenchUniqueJob(BenchPlainJob):
    job_name = "bench.UniqueJob"
    unique(until="executed")


def one_round(app: Any, job_class: type[ApplicationJob], jobs: int) -> tuple[float, float]:
    """(µs per enqueue, µs per job drained)."""
    done = [0]
    lock = threading.Lock()

    def count(sender: object, **_: object) -> None:
        with lock:
            done[0] += 1

    signals.perform.connect(count, weak=False, dispatch_uid="bench.locks")
    started = time.perf_counter()
    for index in range(jobs):
        job_class.perform_later(index)
    enqueue = (time.perf_counter() - started) / jobs * 1e6
    with run_worker(app, loglevel="ERROR"):
        started = time.perf_counter()
        wait_for(lambda: done[0] >= jobs, timeout=600, interval=0.01)
        drain = (time.perf_counter() - started) / jobs * 1e6
    signals.perform.disconnect(dispatch_uid="bench.locks")
    return enqueue, drain


def main(jobs: int = 1000, rounds: int = 3) -> None:
    kinds = {
        "plain": BenchPlainJob,
        "limits_concurrency": BenchLimitedJob,
        "unique": BenchUniqueJob,
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
    with RedisServer.start_private() as server:
        app = make_app(server.url(1))
        for _ in range(rounds):
            for name, job_class in kinds.items():
                server.client(1).flushdb()
                results[name].append(one_round(app, job_class, jobs))
        app.close()
    base_enqueue = statistics.median(r[0] for r in results["plain"])
    base_drain = statistics.median(r[1] for r in results["plain"])
    for name, rows in results.items():
        enqueue = statistics.median(r[0] for r in rows)
        drain = statistics.median(r[1] for r in rows)
        print(
            f"{name:>18}: enqueue {enqueue:7.0f} µs/job ({enqueue / base_enqueue:.2f}x), "
            f"drain {drain:7.0f} µs/job ({drain / base_drain:.2f}x), "
            f"total {(enqueue + drain) / (base_enqueue + base_drain):.2f}x"
        )


if __name__ == "__main__":
    main(*(int(value) for value in sys.argv[1:3]))
