"""The sending process's CPU per enqueued job: plain Celery against the job layer.

On a shared machine the wall-clock enqueue rates swing from minute to minute; the CPU time the
sender spends per job (``time.process_time``, best of ``--rounds``) does not, so before/after
comparisons of the enqueue paths use it. Redis's own time is not included.

Usage:
    .venv/bin/python benchmarks/enqueue_cpu.py                 # 3 000 jobs, best of 5
    .venv/bin/python benchmarks/enqueue_cpu.py --n 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from tests.support.redis_server import RedisServer  # noqa: E402


def main() -> int:
    """Print µs of sender CPU per job for each way of enqueueing."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    n = options.n
    with RedisServer.start_private() as server:
        os.environ["BENCH_REDIS_URL"] = server.url(0)
        import bench_app as ba
        from phases import Phases

        from activejob_celery import perform_all_later

        phases = Phases(ba, n, n, 0)
        phases.message_size()  # the first two jobs prove the direct publish template

        def cpu(fill: Callable[[], None]) -> float:
            best = float("inf")
            for _ in range(options.rounds):
                phases.clear()
                started = time.process_time()
                fill()
                best = min(best, time.process_time() - started)
                phases.clear()
                phases.redis.delete("activejob:scheduled", "activejob:scheduled:entries")
            return best / n * 1e6

        ways: dict[str, Callable[[], None]] = {
            "apply_async loop": lambda: [ba.noop.apply_async(args=(i,)) for i in range(n)],
            "perform_later loop": lambda: [ba.NoopJob.perform_later(i) for i in range(n)],
            "perform_all_later": lambda: perform_all_later([ba.NoopJob(i) for i in range(n)]),
            "apply_async(countdown=60) loop": lambda: [
                ba.noop.apply_async(args=(i,), countdown=60) for i in range(n)
            ],
            "perform_all_later of set(wait=60)": lambda: perform_all_later(
                [ba.NoopJob(i).set(wait=60) for i in range(n)]
            ),
        }
        for label, fill in ways.items():
            print(f"{label:36s} {cpu(fill):8.1f} µs CPU per job", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
