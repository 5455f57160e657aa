"""What limits and unique locks cost: ``python -m tests.concurrency.bench_locks [jobs] [rounds]``.

The same no-op job three ways: plain, with ``limits_concurrency`` (a limit so high that nothing
blocks) and with ``unique`` (every job its own key). Each round enqueues ``jobs`` with
``perform_later`` (timed per job), then drains them with a solo worker (timed per job); kinds
alternate within a round so all see the same machine load. Target: within 1.25x of plain.

Times on a loaded machine swing more than the locks cost, so it also counts the Redis round
trips the worker's job thread waited for, per job (a pipeline or a batch of deferred replies is
one): a figure the load does not move.
"""

from __future__ import annotations

import collections
import statistics
import sys
import threading
import time
from typing import Any

from redis.connection import AbstractConnection as Connection

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


class RoundTrips:
    """Round trips waited for, per thread: the first reply read after a send is one."""

    def __init__(self) -> None:
        self.by_thread: collections.Counter[int] = collections.Counter()
        self._send = Connection.send_packed_command
        self._read = Connection.read_response

    def __enter__(self) -> RoundTrips:
        counts, send, read = self.by_thread, self._send, self._read

        def sent(conn: Any, *args: Any, **kwargs: Any) -> Any:
            conn._bench_sent = True
            return send(conn, *args, **kwargs)

        def read_reply(conn: Any, *args: Any, **kwargs: Any) -> Any:
            if conn.__dict__.pop("_bench_sent", False):
                counts[threading.get_ident()] += 1
            return read(conn, *args, **kwargs)

        Connection.send_packed_command = sent  # type: ignore[method-assign]
        Connection.read_response = read_reply  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Connection.send_packed_command = self._send  # type: ignore[method-assign]
        Connection.read_response = self._read  # type: ignore[method-assign]


def one_round(app: Any, job_class: type[ApplicationJob], jobs: int) -> tuple[float, float, float]:
    """(µs per enqueue, µs per job drained, round trips the job thread waited for per job)."""
    done = [0]
    lock = threading.Lock()
    job_threads: set[int] = set()

    def count(sender: object, **_: object) -> None:
        with lock:
            done[0] += 1
            job_threads.add(threading.get_ident())

    signals.perform.connect(count, weak=False, dispatch_uid="bench.locks")
    started = time.perf_counter()
    for index in range(jobs):
        job_class.perform_later(index)
    enqueue = (time.perf_counter() - started) / jobs * 1e6
    with run_worker(app, loglevel="ERROR"), RoundTrips() as trips:
        started = time.perf_counter()
        wait_for(lambda: done[0] >= jobs, timeout=600, interval=0.01)
        drain = (time.perf_counter() - started) / jobs * 1e6
    signals.perform.disconnect(dispatch_uid="bench.locks")
    return enqueue, drain, sum(trips.by_thread[ident] for ident in job_threads) / jobs


def main(jobs: int = 1000, rounds: int = 3) -> None:
    kinds = {
        "plain": BenchPlainJob,
        "limits_concurrency": BenchLimitedJob,
        "unique": BenchUniqueJob,
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in kinds}
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
        trips = statistics.median(r[2] for r in rows)
        print(
            f"{name:>18}: enqueue {enqueue:7.0f} µs/job ({enqueue / base_enqueue:.2f}x), "
            f"drain {drain:7.0f} µs/job ({drain / base_drain:.2f}x), "
            f"total {(enqueue + drain) / (base_enqueue + base_drain):.2f}x, "
            f"worker round trips {trips:.2f}/job"
        )


if __name__ == "__main__":
    main(*(int(value) for value in sys.argv[1:3]))
