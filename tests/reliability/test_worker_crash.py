"""Worker crashes and shutdowns lose no job: SIGKILL mid-batch (prefork) and SIGTERM mid-job."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.apps.crash_app"

pytestmark = pytest.mark.reliability


@pytest.fixture
def crash_app(aj_redis, monkeypatch):
    monkeypatch.setenv("AJ_CRASH_REDIS_URL", aj_redis.url)
    from tests.reliability.apps import crash_app

    make_app(aj_redis.url)
    return crash_app


def _worker(aj_redis, **kwargs):
    return run_worker_subprocess(
        APP, cwd=ROOT, env={"AJ_CRASH_REDIS_URL": aj_redis.url}, queues=["crash"], **kwargs
    )


@pytest.mark.extended
def test_sigkill_in_the_middle_of_1000_jobs_loses_none(aj_redis, crash_app, aj_quiet_logs):
    jobs = [crash_app.WorkJob(0.003) for _ in range(1000)]
    from activejob_celery import perform_all_later

    perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)

    first = _worker(aj_redis, pool="prefork", concurrency=2)
    with first:
        first.wait_ready(timeout=30)
        wait_for(lambda: aj_redis.client.scard("crash:done") >= 200, timeout=60)
        first.kill()  # SIGKILL to the main process and its pool children at once
    done_at_kill = aj_redis.client.scard("crash:done")
    assert done_at_kill < 1000, "the batch finished before the kill; nothing was tested"

    second = _worker(aj_redis, pool="prefork", concurrency=2)
    with second:
        second.wait_ready(timeout=30)
        try:
            wait_for(lambda: aj_redis.client.scard("crash:done") == 1000, timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {_where_the_missing_jobs_are(aj_redis, jobs)}") from None

    runs = {
        key.decode(): int(value) for key, value in aj_redis.client.hgetall("crash:runs").items()
    }
    assert set(runs) == {job.job_id for job in jobs}
    duplicated = sum(1 for count in runs.values() if count > 1)
    print(f"SIGKILL at {done_at_kill}/1000 done: 0 lost, {duplicated} ran twice")
    assert duplicated <= 100  # at most the in-flight and prefetched messages run again


def _where_the_missing_jobs_are(aj_redis, jobs) -> str:
    """Where the jobs that have not run yet sit in Redis, for the failure message."""
    client = aj_redis.client
    done = {member.decode() for member in client.smembers("crash:done")}
    missing = {job.job_id for job in jobs} - done
    queued = sum(
        1 for key in client.keys("crash*") if client.type(key) == b"list"
        for raw in client.lrange(key, 0, -1) if any(id_.encode() in raw for id_ in missing)
    )  # fmt: skip
    unacked = sum(
        1 for raw in client.hvals("unacked") if any(id_.encode() in raw for id_ in missing)
    )
    return (
        f"at the deadline {len(missing)} had not run: {queued} in a queue list, {unacked} in"
        f" kombu's unacked hash, unacked_mutex TTL {client.ttl('unacked_mutex')} s"
        f" (job ids: {', '.join(sorted(missing)[:5])})"
    )


@pytest.mark.extended
def test_sigterm_mid_job_lets_the_job_finish_and_returns_the_rest(aj_redis, crash_app):
    running = crash_app.SlowJob.perform_later(2.0)
    waiting = [crash_app.SlowJob.perform_later(0.01) for _ in range(3)]

    first = _worker(aj_redis, pool="prefork", concurrency=1)
    with first:
        first.wait_ready(timeout=30)
        wait_for(lambda: aj_redis.client.lrange("crash:started", 0, -1), timeout=30)
        first.send_signal(signal.SIGTERM)
        assert first.proc.wait(timeout=30) is not None
    finished = [value.decode() for value in aj_redis.client.lrange("crash:finished", 0, -1)]
    assert running.job_id in finished, "the running job was cut off by a warm shutdown"

    second = _worker(aj_redis, pool="prefork", concurrency=1)
    with second:
        second.wait_ready(timeout=30)
        wait_for(lambda: aj_redis.client.llen("crash:finished") >= 4, timeout=60)
    finished = [value.decode() for value in aj_redis.client.lrange("crash:finished", 0, -1)]
    assert set(finished) == {running.job_id, *(job.job_id for job in waiting)}
    duplicated = len(finished) - len(set(finished))
    print(f"SIGTERM mid-job: {len(set(finished))}/4 ran, 0 lost, {duplicated} ran twice")
