"""A real (in-process) worker lists itself and each job from its start to its end."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from activejob_celery.dead_letters import store_for as dead_letters_for
from activejob_celery.running import running_jobs, store_for
from tests.running.jobs import HeldDiscardedJob, HeldFailingJob, HeldJob, HeldRetriedJob
from tests.support.worker import run_worker, wait_for


def _release(aj_redis: Any, key: str) -> None:
    aj_redis.client.rpush(f"{key}:go", "1")


def _listed(app: Celery, job_id: str) -> list[dict[str, Any]]:
    return [job for job in running_jobs(app) if job["job_id"] == job_id]


def test_the_worker_is_listed_while_it_runs_and_gone_after(aj_app: Celery) -> None:
    store = store_for(aj_app)
    assert store is not None
    with run_worker(aj_app, queues=["default", "other"]) as worker:
        [listed] = wait_for(store.workers, timeout=30, message="the worker in the registry")
        assert listed["hostname"] == worker.hostname
        assert (listed["pool"], listed["concurrency"], listed["busy"]) == ("solo", 1, 0)
        assert listed["queues"] == ["default", "other"]
        assert listed["state"] == "running" and listed["stale"] is False
    assert store.workers() == []


@pytest.mark.parametrize(
    ("job_class", "outcome"),
    [
        (HeldJob, "success"),
        (HeldFailingJob, "dead letter"),
        (HeldRetriedJob, "retry"),
        (HeldDiscardedJob, "discard"),
    ],
)
def test_a_job_is_listed_while_it_runs_whatever_its_outcome(
    aj_app: Celery, aj_redis: Any, job_class: type[HeldJob], outcome: str
) -> None:
    store = store_for(aj_app)
    assert store is not None
    key = f"held:{outcome}"
    with run_worker(aj_app) as worker:
        job = job_class.perform_later(aj_redis.url, key)
        try:
            [started] = wait_for(lambda: aj_redis.client.lrange(f"{key}:started", 0, -1), 30)
            [running] = _listed(aj_app, job.job_id)
            busy = [w["busy"] for w in store.workers()]
        finally:
            _release(aj_redis, key)
        assert running["job_class"] == job_class.job_name
        assert running["provider_job_id"] == job.provider_job_id
        assert running["queue_name"] == "default"
        assert running["worker"] == worker.hostname
        assert started.decode() == f"{job.job_id}:{running['pid']}"
        assert isinstance(running["started_at"], float)
        assert running["step"] is None and running["done"] is None
        assert busy == [1]
        wait_for(lambda: not _listed(aj_app, job.job_id), timeout=30, message="the end")
        assert [w["busy"] for w in store.workers()] == [0]
    if outcome == "dead letter":
        assert [d.job_id for d in dead_letters_for(aj_app).list()] == [job.job_id]
