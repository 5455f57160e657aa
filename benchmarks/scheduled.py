"""Benchmark: the scheduled set against plain Celery ``countdown`` (run by hand, never in tests).

Starts a private redis-server; "set" = jobs through the scheduled set (``Job.set(wait=600)``),
"celery" = a plain Celery task with ``apply_async(countdown=600)``. Workers: prefork -c 2.

  enqueue   N delayed jobs 10 min ahead, both sides in alternating rounds (the machine's load
            varies): --sample of them one by one, the rest in bulk (perform_all_later /
            apply_async inside producer.batch). Medians of the rounds.
  rss       worker RSS (main + children) with the N delayed jobs waiting, minus an idle
            worker's; Celery's worker fetches every ETA message (up to --fetch-timeout).
  release   the set: N due at once, Lua release into the queue lists (jobs/s). Both sides:
            --drain-n due at once with a running worker, due -> all executed (jobs/s): for
            the set once made due in the past (zunionstore to 0: no early window can help),
            once due at a moment ahead (as Celery's side: the early release window), with
            the worker's RSS growth during the latter.
  lateness  --lat-n jobs due at --lat-rate/s: execution start minus due time, p50/p99; for
            the set also the release lateness alone (message on the queue minus due time).
  jobs+ETA  the same jobs with activejob_scheduler = "celery" (Celery ETA) for the last two
            phases: the job layer's own cost, apart from where delayed jobs wait.

Usage:
    .venv/bin/python benchmarks/scheduled.py                   # N = 100 000
    .venv/bin/python benchmarks/scheduled.py --n 20000 --json scheduled.json
    AJ_BENCH_RELEASE_AHEAD=0 .venv/bin/python benchmarks/scheduled.py   # no early window
    .venv/bin/python benchmarks/scheduled.py --n 10000 --sample 1000 --only enqueue
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]


import redis  # noqa: E402
from measures import percentile  # noqa: E402
from scheduled_app import make_app  # noqa: E402
from scheduled_support import Side, Worker, rss_mb, wait  # noqa: E402

import activejob_celery  # noqa: E402


class Bench:
    def __init__(self, server: Any, options: argparse.Namespace) -> None:
        self.o = options
        self.out: dict[str, float] = {}
        self.set = Side(server, "set", 1)
        self.celery = Side(server, "celery", 2)
        self.eta = Side(server, "eta", 5)

    def enqueue(self) -> None:
        rates: dict[str, list[float]] = {}
        rounds, n, sample = 5, self.o.n, self.o.sample
        for r in range(rounds):
            one = range(sample * r // rounds, sample * (r + 1) // rounds)
            bulk = range(
                sample + (n - sample) * r // rounds, sample + (n - sample) * (r + 1) // rounds
            )
            for side in (self.set, self.celery) if r % 2 == 0 else (self.celery, self.set):
                started = time.perf_counter()
                side.enqueue_one_by_one(one)
                rates.setdefault(f"{side.name}_enqueue_jps", []).append(
                    len(one) / (time.perf_counter() - started)
                )
                started = time.perf_counter()
                side.enqueue_bulk(bulk, lambda number: time.time() + 600)
                rates.setdefault(f"{side.name}_enqueue_bulk_jps", []).append(
                    len(bulk) / (time.perf_counter() - started)
                )
        self.out.update({key: statistics.median(values) for key, values in rates.items()})

    def run_set(self) -> None:
        from activejob_celery.scheduler import poller_for, scheduled_set_for

        side, client = self.set, self.set.client
        scheduled = scheduled_set_for(side.app)
        assert scheduled.count() == self.o.n, scheduled.count()
        idle = side.idle_rss(3)
        worker = side.worker()
        time.sleep(5)
        self.out["set_rss_growth_mb"] = rss_mb(worker.proc.pid) - idle
        worker.stop()

        client.zunionstore(scheduled.key, {scheduled.key: 0})  # all N due at once
        started = time.perf_counter()
        while scheduled.release().released:
            pass
        self.out["set_release_jps"] = self.o.n / (time.perf_counter() - started)
        waiting = sum(
            client.llen(key) for key in ("default", *client.scan_iter("default\x06\x16*"))
        )
        assert waiting == self.o.n and scheduled.count() == 0  # a job without a priority: list 1

        client.flushdb()
        side.enqueue_bulk(range(self.o.drain_n), lambda number: time.time() + 600)
        worker = side.worker()
        due = time.time()
        client.zunionstore(scheduled.key, {scheduled.key: 0})
        done = wait(lambda: side.done() >= self.o.drain_n, 1800, "the set drain")
        self.out["set_due_to_done_jps"] = self.o.drain_n / (done - due)
        self.due_ahead(side, worker)

        client.delete("bench:late", "bench:done")
        lead = self.o.lat_n / self.out["set_enqueue_bulk_jps"] * 1.5 + 3
        first = time.time() + lead
        side.enqueue_bulk(range(self.o.lat_n), lambda i: first + i / self.o.lat_rate, True)
        wait(lambda: client.llen("bench:late") >= self.o.lat_n, 900, "the set lateness run")
        worker.stop()
        self.lateness("set", client)

        # The poller alone: another app's poller (nothing wakes it) and a reader of the list.
        client.flushdb()
        poller = poller_for(make_app("set", side.url))
        activejob_celery.init_app(side.app)  # enqueue through the side's app again
        first = time.time() + lead
        side.enqueue_bulk(range(self.o.lat_n), lambda i: first + i / self.o.lat_rate)
        late = self.release_lateness(poller, client)
        self.out["set_release_late_p50_ms"] = percentile(late, 50)
        self.out["set_release_late_p99_ms"] = percentile(late, 99)

    def due_ahead(self, side: Side, worker: Worker) -> None:
        """--drain-n jobs all due at one moment ahead (as Celery's side), with a running worker:
        that moment -> all executed, and the worker's peak RSS growth meanwhile."""
        side.client.delete("bench:done")
        base = peak = rss_mb(worker.proc.pid)
        due = time.time() + self.o.drain_n / self.out["set_enqueue_bulk_jps"] * 2 + 5
        side.enqueue_bulk(range(self.o.drain_n), lambda number: due)
        deadline = time.monotonic() + 1800
        while side.done() < self.o.drain_n:
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the set's due-ahead drain")
            peak = max(peak, rss_mb(worker.proc.pid))
            time.sleep(0.05)
        self.out["set_ahead_due_to_done_jps"] = self.o.drain_n / (time.time() - due)
        self.out["set_ahead_rss_growth_mb"] = peak - base

    def release_lateness(self, poller: Any, client: redis.Redis) -> list[float]:
        late: list[float] = []
        poller.start()
        try:
            while len(late) < self.o.lat_n:
                # Every priority list of the queue (a job without a priority is in the 0 list).
                lists = ["default", *(f"default\x06\x16{step}" for step in range(1, 10))]
                popped = client.brpop(lists, timeout=30)
                if popped is None:
                    raise SystemExit("the release-lateness run stalled")
                now = time.time()
                body = json.loads(base64.b64decode(json.loads(popped[1])["body"]))
                due = datetime.fromisoformat(body[0][0]["scheduled_at"].replace("Z", "+00:00"))
                late.append((now - due.timestamp()) * 1000)
        finally:
            poller.stop()
        return late

    def run_celery(self) -> None:
        side, client = self.celery, self.celery.client
        idle = side.idle_rss(4)
        worker = side.worker()
        began = time.time()
        wait(lambda: client.hlen("unacked") >= self.o.n, self.o.fetch_timeout, "", fail=False)
        held = client.hlen("unacked")
        self.out["celery_fetch_jps"] = held / (time.time() - began)
        self.out["celery_held"] = held
        time.sleep(2)
        self.out["celery_rss_growth_mb"] = rss_mb(worker.proc.pid) - idle
        worker.stop()

        self.due_phases(side)

    def due_phases(self, side: Side) -> None:
        """``--drain-n`` ETA jobs due at once, then the lateness run, with a running worker."""
        client, drain = side.client, self.o.drain_n
        client.flushdb()
        due = time.time() + drain / self.out["celery_fetch_jps"] * 2 + 15
        side.enqueue_bulk(range(drain), lambda number: due)
        worker = side.worker()
        wait(lambda: client.hlen("unacked") >= drain, due - time.time(), "the fetch before ETA")
        done = wait(lambda: side.done() >= drain, 1800, f"the {side.name} drain")
        self.out[f"{side.name}_due_to_done_jps"] = drain / (done - due)
        self.out[f"{side.name}_ahead_due_to_done_jps"] = drain / (done - due)  # always ahead

        client.delete("bench:late", "bench:done")
        first = time.time() + self.o.lat_n / self.out["celery_enqueue_bulk_jps"] * 2 + 3
        side.enqueue_bulk(range(self.o.lat_n), lambda i: first + i / self.o.lat_rate, True)
        wait(lambda: client.llen("bench:late") >= self.o.lat_n, 900, "the lateness run")
        worker.stop()
        self.lateness(side.name, client)

    def lateness(self, name: str, client: redis.Redis) -> None:
        late = [float(v) * 1000 for v in client.lrange("bench:late", 0, -1)]
        self.out[f"{name}_late_p50_ms"] = percentile(late, 50)
        self.out[f"{name}_late_p99_ms"] = percentile(late, 99)
        self.out[f"{name}_early"] = sum(1 for value in late if value < 0)


ROWS = [
    ("enqueue one by one (jobs/s)", "enqueue_jps", True),
    ("enqueue in bulk (jobs/s)", "enqueue_bulk_jps", True),
    ("worker RSS growth, N waiting (MB)", "rss_growth_mb", False),
    ("release N due at once (jobs/s)", "release_jps", False),
    ("due (set: made due) -> executed (jobs/s)", "due_to_done_jps", True),
    ("due at a time ahead -> executed (jobs/s)", "ahead_due_to_done_jps", True),
    ("worker RSS growth, that drain (MB)", "ahead_rss_growth_mb", False),
    ("lateness p50, executed (ms)", "late_p50_ms", False),
    ("lateness p99, executed (ms)", "late_p99_ms", False),
    ("lateness p50, on the queue (ms)", "release_late_p50_ms", False),
    ("lateness p99, on the queue (ms)", "release_late_p99_ms", False),
    ("jobs run early", "early", False),
]


def table(out: dict[str, float], o: argparse.Namespace) -> str:
    lines = [
        f"N = {o.n:,} (one by one: {o.sample:,}; drain: {o.drain_n:,}; lateness: {o.lat_n:,} "
        f"at {o.lat_rate:g}/s); Celery held {out.get('celery_held', 0):,.0f} ETA tasks, "
        f"fetched at {out.get('celery_fetch_jps', 0):,.0f}/s",
        f"{'metric':42} {'set':>10} {'celery':>10} {'set/celery':>10} {'jobs+ETA':>10}",
    ]
    for label, key, ratio in ROWS:
        a, b, c = (out.get(f"{name}_{key}") for name in ("set", "celery", "eta"))
        shown = [f"{'n/a':>10}" if v is None else f"{v:10,.1f}" for v in (a, b, c)]
        quotient = f"{a / b:.2f}x" if ratio and a is not None and b else ""
        lines.append(f"{label:42} {shown[0]} {shown[1]} {quotient:>10} {shown[2]}")
    bulk, loop = out.get("set_enqueue_bulk_jps"), out.get("celery_enqueue_jps")
    if bulk and loop:  # issue 21's target: the bulk against the countdown loop (>= 10x)
        lines.append(f"{'set bulk / celery countdown loop':42} {bulk / loop:42.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=10_000, help="enqueued one by one")
    parser.add_argument("--drain-n", type=int, default=10_000, help="due at once, then executed")
    parser.add_argument("--lat-n", type=int, default=5_000, help="jobs in the lateness run")
    parser.add_argument("--lat-rate", type=float, default=1000.0, help="due jobs per second")
    parser.add_argument("--fetch-timeout", type=float, default=240.0, help="Celery fetch limit")
    parser.add_argument("--json", dest="json_path", help="also write the figures here")
    parser.add_argument("--skip-eta", action="store_true", help="no jobs+ETA side")
    parser.add_argument("--only", choices=["all", "enqueue"], default="all", help="phases to run")
    options = parser.parse_args()
    options.sample = min(options.sample, options.n)
    from activejob_celery.log_subscriber import detach
    from tests.support.redis_server import RedisServer

    detach()
    started = time.time()
    with RedisServer.start_private() as server:
        bench = Bench(server, options)
        bench.enqueue()
        if options.only == "all":
            bench.run_set()
            bench.run_celery()
        if options.only == "all" and not options.skip_eta:
            bench.due_phases(bench.eta)
    bench.out["wall_s"] = time.time() - started
    print(table(bench.out, options))
    print(f"wall time {bench.out['wall_s']:.0f}s")
    if options.json_path:
        Path(options.json_path).write_text(json.dumps({**vars(options), **bench.out}, indent=2))


if __name__ == "__main__":
    main()
