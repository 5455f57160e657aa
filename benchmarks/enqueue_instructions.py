"""The sending process's instructions per enqueued job, counted by valgrind's callgrind.

CPU time moves with whatever else the machine runs; the instructions a process executes do
not, so a before/after comparison of an enqueue path on a shared machine uses these. Each way
runs in a child under callgrind twice, with 0 and with ``--k`` rounds of 1 000 jobs (Redis, a
child process of its own, is not counted); the difference divided by the jobs is the figure.
Slow (about 40 s a child).

Usage:
    .venv/bin/python benchmarks/enqueue_instructions.py                  # every way
    .venv/bin/python benchmarks/enqueue_instructions.py --ways single,bulk --k 2
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from tests.support.redis_server import RedisServer  # noqa: E402

WAYS = ("apply", "single", "bulk", "wait")
"""``apply_async`` loop, ``perform_later`` loop, ``perform_all_later``, of ``set(wait=60)`` jobs."""


def child(way: str, rounds: int) -> None:
    """Enqueue ``rounds`` x 1 000 jobs ``way`` after the same warm-up for every way."""
    with RedisServer.start_private() as server:
        os.environ["BENCH_REDIS_URL"] = server.url(0)
        # import here: bench_app reads BENCH_REDIS_URL when it is imported
        import bench_app as ba
        from phases import Phases

        from activejob_celery import perform_all_later

        phases = Phases(ba, 1000, 1000, 0)
        phases.message_size()  # the first jobs prove the direct publish templates
        for _ in range(2):
            perform_all_later([ba.NoopJob(i) for i in range(10)])
            perform_all_later([ba.NoopJob(i).set(wait=60) for i in range(10)])
        for _ in range(rounds):
            if way == "apply":
                [ba.noop.apply_async(args=(i,)) for i in range(1000)]
            elif way == "single":
                [ba.NoopJob.perform_later(i) for i in range(1000)]
            elif way == "bulk":
                perform_all_later([ba.NoopJob(i) for i in range(1000)])
            else:
                perform_all_later([ba.NoopJob(i).set(wait=60) for i in range(1000)])
            phases.clear()
            phases.redis.delete("activejob:scheduled", "activejob:scheduled:entries")
        os._exit(0)  # no teardown to count


def instructions(way: str, rounds: int) -> int:
    """Instructions callgrind counts in one child (this process's threads, no children)."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += ["--trace-children=no", sys.executable, __file__, "--child", way, str(rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count: {done.stderr[-500:]}")
    return int(found.group(1))


def main() -> int:
    """Print instructions per job for each way of enqueueing."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--k", type=int, default=2, help="rounds of 1 000 jobs")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], int(options.child[1]))
    base = instructions("bulk", 0)
    for way in options.ways.split(","):
        per_job = (instructions(way, options.k) - base) / (options.k * 1000)
        print(f"{way:8s} {per_job / 1000:8.1f} k instructions per job", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
