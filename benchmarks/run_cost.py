"""What a job's run costs its worker in-process, with and without the run's own writes.

One process runs ``run_payload`` (what a job task does with its message) for a no-op job under
a pushed worker request, against a private Redis, the way a worker's task runs it: no fetch,
ack or Celery trace around it. Three variants, alternated round by round:

- ``shipped``: as the package runs it (the start write waited for, the end write not);
- ``no-end``: the end write left out (status outcome and unlisting);
- ``no-writes``: no run writes at all (no status, cancel check, listing or run mark).

The last two are not shippable (they drop what ``job_status``, ``cancel``, the running-jobs
registry and the killed-worker guard need); they measure what those writes cost.

Usage: ``python benchmarks/run_cost.py [N] [rounds]`` (defaults 3000 and 5).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from tests.support.redis_server import RedisServer  # noqa: E402

VARIANTS = ("shipped", "no-end", "no-writes")


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """Leave out the writes ``name`` says (in this process only)."""
    from activejob_celery import task
    from activejob_celery.run_writes import Opening

    with contextlib.ExitStack() as stack:
        if name in ("no-end", "no-writes"):
            stack.enter_context(mock.patch.object(task, "close_run", lambda *args: None))
        if name == "no-writes":
            empty = Opening(None, None, None)
            stack.enter_context(mock.patch.object(task, "open_run", lambda *args: empty))
            stack.enter_context(mock.patch.object(task, "task_ledger", lambda *a, **k: None))
        yield


def one_round(job_task: Any, payload: dict[str, Any], n: int) -> tuple[float, float]:
    """Run ``n`` jobs; (CPU µs, wall µs) per run."""
    from activejob_celery.task import run_payload

    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        task_id = str(uuid.uuid4())
        job_task.push_request(
            id=task_id,
            hostname="run-cost@bench",
            delivery_info={"redelivered": False},
            called_directly=False,
            is_eager=False,
        )
        try:
            run_payload({**payload, "job_id": task_id}, job_task)
        finally:
            job_task.pop_request()
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def main(n: int, rounds: int) -> None:
    """Print the median CPU and wall time per run of each variant."""
    with RedisServer.start_private() as server:
        os.environ["BENCH_REDIS_URL"] = server.url(0)
        import bench_app as ba

        job_task = ba.app.tasks[ba.NoopJob.job_name]
        payload = ba.NoopJob(1).serialize()
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
        for name in VARIANTS:  # warm up each path once
            with variant(name):
                one_round(job_task, payload, 300)
        for _ in range(rounds):
            for name in VARIANTS:
                with variant(name):
                    results[name].append(one_round(job_task, payload, n))
        for name in VARIANTS:
            cpu = statistics.median(r[0] for r in results[name])
            wall = statistics.median(r[1] for r in results[name])
            print(f"{name:10s} {cpu:7.1f} µs CPU  {wall:7.1f} µs wall per run (median of {rounds})")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 3000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 5,
    )
