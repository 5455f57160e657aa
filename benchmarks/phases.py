"""The measurements: each phase times plain Celery and the job layer side by side."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latency import interleaved
from measures import cpu_seconds, rss_mb

HERE = Path(__file__).resolve().parent


class Phases:
    """One benchmark run against the app in ``bench_app`` on a private Redis."""

    def __init__(self, ba: Any, n: int, drain_n: int, latency_n: int) -> None:
        import redis

        self.ba = ba
        self.n = n
        self.drain_n = drain_n
        self.latency_n = latency_n
        self.redis = redis.Redis.from_url(ba.REDIS_URL)
        self.logdir = tempfile.mkdtemp(prefix="aj-bench-")

    def clear(self) -> None:
        """Empty the queue (every priority bucket), counters and the unacked bookkeeping."""
        queue = self.ba.QUEUE
        keys = [queue, self.ba.COUNTER_KEY, self.ba.LATENCY_KEY, "unacked", "unacked_index"]
        keys += list(self.redis.scan_iter(match=f"{queue}\x06\x16*"))
        keys += list(self.redis.scan_iter(match="activejob:*"))
        self.redis.delete(*keys)

    def queued(self) -> int:
        """Messages waiting in the queue, over every priority bucket."""
        queue = self.ba.QUEUE
        names = [queue, *self.redis.scan_iter(match=f"{queue}\x06\x16*")]
        return sum(self.redis.llen(name) for name in names)

    def _timed(self, fill: Callable[[], None], expect: int) -> float:
        self.clear()
        started = time.perf_counter()
        fill()
        elapsed = time.perf_counter() - started
        found = self.queued()
        self.clear()
        if found != expect:
            raise RuntimeError(f"expected {expect} messages in Redis, found {found}")
        return elapsed

    def message_size(self) -> dict[str, float]:
        """Bytes one message occupies in Redis: plain task vs job."""
        sizes = {}
        for name, send in (
            ("task", lambda: self.ba.noop.apply_async(args=(0,))),
            ("job", lambda: self.ba.NoopJob.perform_later(0)),
        ):
            self.clear()
            send()
            queue = self.ba.QUEUE
            names = [queue, *self.redis.scan_iter(match=f"{queue}\x06\x16*")]
            [raw] = [raw for name in names for raw in self.redis.lrange(name, 0, -1)]
            sizes[f"message_bytes_{name}"] = float(len(raw))
        self.clear()
        return sizes

    def enqueue(self) -> dict[str, float]:
        """``apply_async`` loop vs ``perform_later`` loop vs ``perform_all_later``."""
        n, ba = self.n, self.ba

        def tasks() -> None:
            for i in range(n):
                ba.noop.apply_async(args=(i,))

        def jobs() -> None:
            for i in range(n):
                ba.NoopJob.perform_later(i)

        def bulk() -> None:
            from activejob_celery import perform_all_later

            perform_all_later([ba.NoopJob(i) for i in range(n)])

        return {
            "enqueue_apply_async_jps": n / self._timed(tasks, n),
            "enqueue_perform_later_jps": n / self._timed(jobs, n),
            "enqueue_perform_all_later_jps": n / self._timed(bulk, n),
        }

    def _start_worker(
        self, pool: str, label: str, *, pure: bool = False, queue: str | None = None
    ) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "celery", "-A", "bench_app", "worker", f"--pool={pool}",
            "-l", "warning", "-Q", queue or self.ba.QUEUE, "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-n", f"bench-{label}-{os.getpid()}@%h",
        ]  # fmt: skip
        if pool == "prefork":
            command += ["-c", "2"]
        log = open(Path(self.logdir) / f"worker-{label}.log", "ab")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        env["BENCH_PURE_CELERY"] = "1" if pure else "0"
        return subprocess.Popen(command, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT)

    @staticmethod
    def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _drain(
        self, pool: str, label: str, fill: Callable[[], None], expect: int, *, pure: bool = False
    ) -> dict[str, float]:
        self.clear()
        fill()
        proc = self._start_worker(pool, label, pure=pure)
        try:
            first_at = first_count = last_at = None
            first_cpu = 0.0
            deadline = time.perf_counter() + 300
            while True:
                done = int(self.redis.get(self.ba.COUNTER_KEY) or 0)
                now = time.perf_counter()
                if first_at is None and done > 0:
                    first_at, first_count = now, done
                    first_cpu = cpu_seconds(proc.pid)
                if done >= expect:
                    last_at = now
                    break
                if now > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{label}: {done}/{expect} done; logs in {self.logdir}")
                time.sleep(0.002)
            assert first_at is not None and first_count is not None
            cpu = cpu_seconds(proc.pid) - first_cpu
            main, total = rss_mb(proc.pid)
            result = {
                f"{label}_jps": (expect - first_count) / max(last_at - first_at, 1e-9),
                f"{label}_cpu_us": cpu / max(expect - first_count, 1) * 1e6,
                f"{label}_rss_main_mb": main,
                f"{label}_rss_total_mb": total,
            }
            return result
        finally:
            self._stop_worker(proc)
            self.clear()

    def drains(self, pool: str) -> dict[str, float]:
        """Drain rate, worker RSS and idle latency: plain task vs job, on one pool."""
        n, ba = self.drain_n, self.ba

        def fill_tasks() -> None:
            with ba.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
                for i in range(n):
                    ba.count.apply_async(args=(i,), producer=producer)

        def fill_late_tasks() -> None:
            with ba.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
                for i in range(n):
                    ba.count_late.apply_async(args=(i,), producer=producer)

        def fill_jobs() -> None:
            from activejob_celery import perform_all_later

            perform_all_later([ba.CountJob(i) for i in range(n)])

        # Plain Celery: a worker without the package. Then the same late-acked tasks on the
        # package's worker (its fetch and worker steps, without the job layer's per-run work).
        out = self._drain(pool, f"drain_{pool}_task", fill_tasks, n, pure=True)
        out.update(self._drain(pool, f"drain_{pool}_task_late", fill_late_tasks, n, pure=True))
        out.update(self._drain(pool, f"drain_{pool}_task_late_aj", fill_late_tasks, n))
        out.update(self._drain(pool, f"drain_{pool}_job", fill_jobs, n))
        out.update(interleaved(self, pool))
        return out

    def retry_flow(self) -> dict[str, float]:
        """Fail once, retry at once, succeed: ``self.retry(countdown=0)`` vs ``retry_on``."""
        n, ba = max(self.drain_n // 4, 100), self.ba

        def fill_tasks() -> None:
            for i in range(n):
                ba.flaky.apply_async(args=(i,))

        def fill_jobs() -> None:
            for i in range(n):
                ba.FlakyJob.perform_later(i)

        out = self._drain("solo", "retry_task", fill_tasks, n)
        out.update(self._drain("solo", "retry_job", fill_jobs, n))
        return {key: value for key, value in out.items() if key.endswith("_jps")}

    def models(self) -> dict[str, float]:
        """Jobs taking a Django model (GlobalID) vs tasks taking its key: enqueue, solo drain."""
        database = Path(self.logdir) / "models.sqlite3"
        os.environ["BENCH_MODELS_DB"] = str(database)  # read by bench_models, here and in workers
        try:
            bm = importlib.import_module("bench_models")
            if not getattr(self, "_customers", None):
                from django.core.management import call_command

                call_command("migrate", run_syncdb=True, verbosity=0)
                size = max(self.n, self.drain_n)
                bm.Customer.objects.bulk_create(bm.Customer(name=f"c{i}") for i in range(size))
                self._customers = list(bm.Customer.objects.order_by("pk"))
            customers = self._customers
            few, many = customers[: self.n], customers[: self.drain_n]

            def task_loop() -> None:
                for customer in few:
                    bm.count_customer.apply_async(args=(customer.pk,))

            def job_loop() -> None:
                for customer in few:
                    bm.CustomerJob.perform_later(customer)

            def fill_tasks() -> None:
                with self.ba.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
                    for customer in many:
                        bm.count_customer.apply_async(args=(customer.pk,), producer=producer)

            def fill_jobs() -> None:
                from activejob_celery import perform_all_later

                perform_all_later([bm.CustomerJob(customer) for customer in many])

            out = {
                "models_apply_async_jps": len(few) / self._timed(task_loop, len(few)),
                "models_perform_later_jps": len(few) / self._timed(job_loop, len(few)),
            }
            for label, fill in (("models_solo_task", fill_tasks), ("models_solo_job", fill_jobs)):
                drained = self._drain("solo", label, fill, len(many))
                out[f"{label}_jps"] = drained[f"{label}_jps"]
            return out
        finally:
            del os.environ["BENCH_MODELS_DB"]  # the other phases' workers run without Django
