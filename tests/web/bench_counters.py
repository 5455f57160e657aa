"""What the dashboard's per-minute job counters cost: ``python -m tests.web.bench_counters``.

1. One ``metrics.record`` call (the in-process tally a job pays), and one ``metrics.flush`` (the
   pipelined HINCRBY + EXPIRE the flusher thread sends each second) to a private redis-server.
2. A solo worker draining no-op jobs with the ``signals.perform`` counter receiver connected and
   disconnected, alternating rounds so both see the same machine load.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

from activejob_celery import ApplicationJob, perform_all_later, signals
from activejob_celery.web import setup as web_setup
from activejob_celery.worker import metrics
from tests.support.fixtures import make_app
from tests.support.redis_server import RedisServer
from tests.support.worker import run_worker, wait_for


class BenchNoopJob(ApplicationJob):
    job_name = "bench.NoopJob"

    def perform(self, index: int) -> None:
        pass


def per_call(app, calls: int) -> tuple[float, float]:
    started = time.perf_counter()
    for _ in range(calls):
        metrics.record(app, failed=False)
    recorded = (time.perf_counter() - started) / calls * 1e6
    started = time.perf_counter()
    for _ in range(calls // 10):
        metrics.record(app, failed=False)
        metrics.flush()
    return recorded, (time.perf_counter() - started) / (calls // 10) * 1e6


def drain(app, jobs: int, counted: list[int], lock: threading.Lock) -> float:
    with lock:
        counted[0] = 0
    perform_all_later([BenchNoopJob(index) for index in range(jobs)])
    started = time.perf_counter()
    with run_worker(app, loglevel="ERROR"):
        wait_for(lambda: counted[0] >= jobs, timeout=300, interval=0.01)
        elapsed = time.perf_counter() - started
    return jobs / elapsed


def main(jobs: int = 2000, rounds: int = 3) -> None:
    with RedisServer.start_private() as server:
        app = make_app(server.url(1))
        web_setup(app)
        recorded, flushed = per_call(app, 20000)
        print(
            f"metrics.record: {recorded:.1f} µs per job; metrics.flush: {flushed:.0f} µs per write"
        )
        counted, lock = [0], threading.Lock()

        def count(sender: object, **_: object) -> None:
            with lock:
                counted[0] += 1

        signals.perform.connect(count, weak=False, dispatch_uid="bench.count")
        results: dict[str, list[float]] = {"with counters": [], "without counters": []}
        for _ in range(rounds):
            for label in results:
                if label == "with counters":
                    metrics.setup(app, metrics.settings_of(app))
                else:
                    signals.perform.disconnect(dispatch_uid="activejob.web.metrics")
                results[label].append(drain(app, jobs, counted, lock))
        for label, rates in results.items():
            shown = ", ".join(f"{rate:.0f}" for rate in rates)
            print(f"{label}: median {statistics.median(rates):.0f} jobs/s ({shown})")
        app.close()


if __name__ == "__main__":
    main(*(int(value) for value in sys.argv[1:3]))
