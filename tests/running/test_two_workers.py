"""Two real worker processes: the registry, the Running and Workers pages in Chromium."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from activejob_celery.running import running_jobs, store_for
from tests.running.jobs import HeldJob
from tests.support.worker import WorkerProcess, run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.running.running_app"

pytestmark = pytest.mark.extended


@contextlib.contextmanager
def _worker(
    url: str, name: str, pool: str, concurrency: int, **env: str
) -> Iterator[WorkerProcess]:
    worker = run_worker_subprocess(
        APP,
        cwd=ROOT,
        env={"AJ_RUNNING_REDIS_URL": url, **env},
        queues=[name],
        pool=pool,
        concurrency=concurrency,
        hostname=f"{name}-{uuid.uuid4().hex[:6]}@%h",
        stop_timeout=60,
    )
    with worker:
        worker.wait_ready(timeout=90)
        yield worker


def _hostnames(app: Celery) -> dict[str, dict[str, Any]]:
    store = store_for(app)
    assert store is not None
    return {worker["hostname"].split("-", 1)[0]: worker for worker in store.workers()}


def _started(redis: Any, key: str, count: int) -> list[bytes] | None:
    values = redis.client.lrange(f"{key}:started", 0, -1)
    return values if len(values) >= count else None


def test_the_pages_show_two_workers_and_their_jobs(
    aj_web_app: Celery, aj_redis: Any, aj_dashboard: str, aj_page: Any
) -> None:
    from playwright.sync_api import expect

    url, page, key = aj_redis.url, aj_page, "two"
    with _worker(url, "alpha", "prefork", 2) as alpha, _worker(url, "beta", "solo", 1) as beta:
        jobs = [
            HeldJob.set(queue=queue).perform_later(url, key) for queue in ("alpha", "alpha", "beta")
        ]
        try:
            wait_for(lambda: _started(aj_redis, key, 3), timeout=90, message="three jobs running")
            page.goto(aj_dashboard + "/running")
            rows = page.locator("#running tbody tr")
            expect(rows).to_have_count(3)
            for job, queue in zip(jobs, ("alpha", "alpha", "beta"), strict=True):
                row = page.locator(f'tr[data-job-id="{job.job_id}"]')
                expect(row.locator(".job-class")).to_contain_text("HeldJob")
                expect(row).to_contain_text(job.provider_job_id)
                expect(row.locator(".worker")).to_contain_text(f"{queue}-")
                expect(row.locator(".time")).to_contain_text("UTC")
                expect(row.locator(".progress")).to_have_text("-")
                expect(row.locator(".step")).to_have_text("-")
            # The header's "Find job", and one Cancel per running job.
            expect(page.get_by_role("button")).to_have_count(4)
            expect(page.locator("button.cancel-job")).to_have_count(3)
            pids = {
                job["pid"] for job in running_jobs(aj_web_app) if job["worker"].startswith("alpha")
            }
            assert len(pids) == 2 and alpha.pid not in pids  # prefork children list their runs

            page.get_by_role("link", name="Workers").click()
            workers = _hostnames(aj_web_app)
            for name, pool, concurrency, busy in (
                ("alpha", "prefork", "2", "2"),
                ("beta", "solo", "1", "1"),
            ):
                row = page.locator(f'tr[data-hostname="{workers[name]["hostname"]}"]')
                expect(row.locator(".pool")).to_have_text(pool)
                expect(row.locator(".concurrency")).to_have_text(concurrency)
                expect(row.locator(".busy")).to_have_text(busy)
                expect(row.locator(".queues")).to_have_text(name)
                expect(row.locator(".heartbeat")).to_contain_text("ago")
                expect(row.locator(".state")).to_have_text("running")
            assert workers["alpha"]["pid"] == alpha.pid and workers["beta"]["pid"] == beta.pid
        finally:
            aj_redis.client.rpush(f"{key}:go", "1")
        wait_for(lambda: not running_jobs(aj_web_app), timeout=60, message="the jobs to end")
        page.reload()
        expect(page.locator("#workers .busy")).to_have_text(["0", "0"])
        page.get_by_role("link", name="Running").click()
        expect(page.locator("#running")).to_contain_text("No job is running.")


def test_a_warm_shutdown_shows_stopping_then_the_worker_is_gone(
    aj_app: Celery, aj_redis: Any
) -> None:
    url, key = aj_redis.url, "warm"
    with _worker(url, "gamma", "prefork", 1) as gamma:
        job = HeldJob.set(queue="gamma").perform_later(url, key)
        wait_for(lambda: _started(aj_redis, key, 1), timeout=60, message="the job running")
        gamma.send_signal(signal.SIGTERM)
        try:
            wait_for(lambda: _hostnames(aj_app)["gamma"]["state"] == "stopping", timeout=30)
            assert [listed["job_id"] for listed in running_jobs(aj_app)] == [job.job_id]
        finally:
            aj_redis.client.rpush(f"{key}:go", "1")
        wait_for(lambda: gamma.returncode is not None, timeout=60, message="the worker to exit")
    assert _hostnames(aj_app) == {} and running_jobs(aj_app) == []


def test_a_killed_worker_shows_stale_then_disappears_with_its_jobs(
    aj_app: Celery, aj_redis: Any
) -> None:
    url, key = aj_redis.url, "killed"
    with _worker(url, "delta", "solo", 1, AJ_RUNNING_HEARTBEAT="1") as delta:
        job = HeldJob.set(queue="delta").perform_later(url, key)
        wait_for(lambda: _started(aj_redis, key, 1), timeout=60, message="the job running")
        assert [listed["job_id"] for listed in running_jobs(aj_app)] == [job.job_id]
        delta.kill()
        wait_for(lambda: _hostnames(aj_app)["delta"]["stale"], timeout=30, message="stale")
        wait_for(lambda: not _hostnames(aj_app), timeout=60, message="the dead worker to go")
        assert running_jobs(aj_app) == []


def test_a_run_whose_pool_process_was_killed_is_unlisted(aj_app: Celery, aj_redis: Any) -> None:
    url, key = aj_redis.url, "child-killed"
    worker = run_worker_subprocess(
        APP,
        cwd=ROOT,
        env={"AJ_RUNNING_REDIS_URL": url, "AJ_RUNNING_HEARTBEAT": "1"},
        queues=["epsilon"],
        pool="prefork",
        concurrency=1,
        hostname=f"epsilon-{uuid.uuid4().hex[:6]}@%h",
        stop_timeout=60,
    )
    with worker:
        worker.wait_ready(timeout=90)
        HeldJob.set(queue="epsilon").perform_later(url, key)
        started = wait_for(lambda: _started(aj_redis, key, 1), timeout=60, message="running")
        child = int(started[0].decode().rsplit(":", 1)[1])
        assert [listed["pid"] for listed in running_jobs(aj_app)] == [child]
        hostname = running_jobs(aj_app)[0]["worker"]
        # Its message goes to another worker (not this one, which would list it again).
        aj_app.control.cancel_consumer("epsilon", destination=[hostname], reply=True, timeout=30)
        try:
            os.kill(child, signal.SIGKILL)  # the OOM killer: no run end is written
            wait_for(lambda: not _alive(child), timeout=60, message="the child killed")
            wait_for(lambda: not running_jobs(aj_app), timeout=60, message="the run unlisted")
            assert worker.returncode is None  # the worker lives on, beating
        finally:
            aj_redis.client.rpush(f"{key}:go", "1")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
