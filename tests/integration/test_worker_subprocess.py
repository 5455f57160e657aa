"""Jobs through `celery -A app worker` as a real subprocess, the way users run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def quick_app(aj_redis, monkeypatch):
    """The user-style app module; jobs are enqueued through an app on this test's database."""
    monkeypatch.setenv("AJ_QUICK_REDIS_URL", aj_redis.url)
    from tests.integration.apps import quick_app

    make_app(aj_redis.url)  # perform_later publishes through the app init_app saw last
    return quick_app


def test_a_subprocess_worker_without_q_runs_jobs_on_every_job_queue(aj_redis, quick_app):
    hello = quick_app.HelloJob.perform_later("ada", times=2)
    report = quick_app.ReportJob.perform_later(7)
    assert hello.successfully_enqueued and report.successfully_enqueued

    worker = run_worker_subprocess(
        "tests.integration.apps.quick_app", cwd=ROOT, env={"AJ_QUICK_REDIS_URL": aj_redis.url}
    )
    with worker:
        worker.wait_ready(timeout=30)
        hello_done = wait_for(lambda: aj_redis.client.lrange("quick:hello", 0, -1), timeout=20)
        reports_done = wait_for(lambda: aj_redis.client.lrange("quick:reports", 0, -1), timeout=20)
    assert hello_done == [f"ada:2:1:{hello.job_id}".encode()]
    assert reports_done == [b"7"]
    log = worker.log_text()
    assert f"Performed HelloJob (Job ID: {hello.job_id}) from Celery(default)" in log
    assert "Performed ReportJob" in log and "from Celery(reports)" in log


def test_a_subprocess_worker_retries_a_failing_job(aj_redis, quick_app):
    job = quick_app.FlakyJob.perform_later("k")
    worker = run_worker_subprocess(
        "tests.integration.apps.quick_app", cwd=ROOT, env={"AJ_QUICK_REDIS_URL": aj_redis.url}
    )
    with worker:
        worker.wait_ready(timeout=30)
        runs = wait_for(
            lambda: (v := aj_redis.client.lrange("quick:flaky", 0, -1)) and len(v) >= 2 and v,
            timeout=30,
        )
    assert runs == [b"1", b"2"]
    assert f"Retrying FlakyJob (Job ID: {job.job_id}) after 1 attempts in 1 seconds" in (
        worker.log_text()
    )
