"""Idle pickup and round-trip latency: plain Celery and the job layer, samples interleaved.

Two idle workers of the same pool run side by side: one of plain Celery (``BENCH_PURE_CELERY``)
on its own queue, taking ``bench.stamp`` tasks, and one of the package taking ``StampJob`` jobs.
Samples alternate task, job, task, job, one at a time, so both sides see the same moments of a
shared, noisy machine; the medians are compared. (Measured phase after phase instead, a second
of load in one phase moved the difference by a millisecond either way.)

A sample: send, then wait on the latency list for the stamp the task or job pushes when it runs.
Pickup is from just before the send to the start of the run (the stamps' clocks); the round trip
is from just before the send to the stamp read back by the sender.
"""

from __future__ import annotations

import time
from typing import Any

from measures import percentile


def interleaved(phases: Any, pool: str) -> dict[str, float]:
    """Latency on ``pool``: ``drain_<pool>_task_*`` (plain Celery) and ``drain_<pool>_job_*``."""
    ba, redis = phases.ba, phases.redis
    plain_queue = f"{ba.QUEUE}_plain"
    sides = {
        f"drain_{pool}_task": lambda i, at: ba.stamp.apply_async(args=(i, at), queue=plain_queue),
        f"drain_{pool}_job": lambda i, at: ba.StampJob.perform_later(i, at),
    }
    phases.clear()
    redis.delete(plain_queue)
    workers = [
        phases._start_worker(pool, f"latency-{pool}-task", pure=True, queue=plain_queue),
        phases._start_worker(pool, f"latency-{pool}-job"),
    ]
    try:
        samples: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in sides}
        for i in range(-3, phases.latency_n):  # three warm-up rounds: workers start, connect
            for label, send in sides.items():
                pickup, round_trip = _sample(redis, ba.LATENCY_KEY, send, i, label)
                if i >= 0:
                    samples[label][0].append(pickup)
                    samples[label][1].append(round_trip)
        result: dict[str, float] = {}
        for label, (pickups, round_trips) in samples.items():
            result[f"{label}_pickup_p50_ms"] = percentile(pickups, 50)
            result[f"{label}_pickup_p99_ms"] = percentile(pickups, 99)
            result[f"{label}_rtt_p50_ms"] = percentile(round_trips, 50)
            result[f"{label}_rtt_p99_ms"] = percentile(round_trips, 99)
        return result
    finally:
        for worker in workers:
            phases._stop_worker(worker)
        redis.delete(plain_queue)
        phases.clear()


def _sample(redis: Any, key: str, send: Any, i: int, label: str) -> tuple[float, float]:
    timeout = 60 if i < 0 else 10  # the first samples wait for the workers to start
    started = time.time()
    send(i, started)
    item = redis.blpop([key], timeout=timeout)
    finished = time.time()
    if item is None:
        raise RuntimeError(f"{label}: latency sample {i} timed out")
    _, enqueued, executed = item[1].decode().split("|")
    return (float(executed) - float(enqueued)) * 1000, (finished - started) * 1000
