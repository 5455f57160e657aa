"""Celery's routing for jobs on a real Redis and worker: task_routes, task_default_queue, purge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from activejob_celery import ApplicationJob, EnqueueError, perform_all_later, retry_on
from tests.integration.test_scheduler import queued
from tests.support.fixtures import make_app
from tests.support.redis_server import free_port
from tests.support.worker import run_worker, wait_for

ROOT = Path(__file__).resolve().parents[2]
ROUTES = {"routing.jobs.*": {"queue": "jobs_all"}}


def waiting(client, queue: str) -> int:
    return sum(len(messages) for messages in queued(client, queue).values())


def test_a_glob_routed_job_and_its_retry_run_on_a_worker_of_that_queue_only(
    aj_redis, aj_job_buffer
):
    app = make_app(aj_redis.url, task_routes=ROUTES)

    class GlobJob(ApplicationJob):
        job_name = "routing.jobs.GlobJob"
        retry_on(ValueError, wait=1, attempts=2, jitter=0)

        def perform(self, number):
            aj_job_buffer.add((number, self.queue_name, self.executions))
            if self.executions < 2:
                raise ValueError("first run fails")

    job = GlobJob.perform_later(7)
    assert job.queue_name == "jobs_all"
    assert waiting(aj_redis.client, "jobs_all") == 1 and waiting(aj_redis.client, "default") == 0
    with run_worker(app, queues=["jobs_all"]):
        wait_for(lambda: len(aj_job_buffer.values) == 2, timeout=60)
    # The retry kept the job's queue (Rails), so the same one-queue worker ran it again.
    assert aj_job_buffer.values == [(7, "jobs_all", 1), (7, "jobs_all", 2)]
    app.close()


def test_a_worker_with_q_proj_runs_jobs_of_an_app_whose_default_queue_is_proj(
    aj_redis, aj_job_buffer
):
    app = make_app(aj_redis.url, task_default_queue="proj")

    class ProjectJob(ApplicationJob):
        def perform(self, number):
            aj_job_buffer.add((number, self.queue_name))

    ProjectJob.perform_later(1)
    ProjectJob.set(wait=1).perform_later(2)  # through the scheduled set, to the same queue
    perform_all_later([ProjectJob(3)])
    with run_worker(app, queues=["proj"]):
        wait_for(lambda: len(aj_job_buffer.values) == 3, timeout=60)
    assert sorted(aj_job_buffer.values) == [(1, "proj"), (2, "proj"), (3, "proj")]
    app.close()


def test_a_worker_without_q_consumes_the_routed_queue_and_says_so(aj_redis, aj_job_buffer):
    app = make_app(aj_redis.url, task_routes=ROUTES, worker_enable_remote_control=True)

    class WithoutQJob(ApplicationJob):
        job_name = "routing.jobs.WithoutQJob"

        def perform(self, number):
            aj_job_buffer.add((number, self.queue_name))

    WithoutQJob.perform_later(5)
    with run_worker(app):
        wait_for(lambda: aj_job_buffer.values, timeout=60)
        replies = app.control.inspect(timeout=5).active_queues() or {}
    assert aj_job_buffer.values == [(5, "jobs_all")]
    [queues] = replies.values()
    assert {"jobs_all", "default"} <= {queue["name"] for queue in queues}
    app.close()


def test_celery_purge_empties_the_job_queues(aj_redis, monkeypatch):
    monkeypatch.setenv("AJ_ROUTING_REDIS_URL", aj_redis.url)
    from tests.integration.apps import routing_app

    make_app(aj_redis.url, **routing_app.CONF)  # publish through an app set up like the module's
    for job_class in (routing_app.RoutedJob, routing_app.ProjJob, routing_app.ReportJob):
        assert job_class.perform_later(1).successfully_enqueued
    client = aj_redis.client
    assert [waiting(client, name) for name in ("jobs_all", "proj", "reports")] == [1, 1, 1]
    env = {**os.environ, "AJ_ROUTING_REDIS_URL": aj_redis.url}
    command = [sys.executable, "-m", "celery", "-A", routing_app.__name__, "purge", "-f"]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    assert [waiting(client, name) for name in ("jobs_all", "proj", "reports")] == [0, 0, 0]
    assert "Purged 3 messages" in done.stdout


def test_raise_on_enqueue_error_with_a_stopped_broker():
    down = f"redis://127.0.0.1:{free_port()}/1"
    app = make_app(
        down,
        broker_connection_max_retries=1,
        broker_connection_timeout=0.5,
        task_publish_retry=False,
        activejob_raise_on_enqueue_error=True,
    )

    class NowhereJob(ApplicationJob):
        def perform(self):
            pass

    with pytest.raises(EnqueueError, match="Error while publishing"):
        NowhereJob.perform_later()
    with pytest.raises(EnqueueError):
        NowhereJob.set(wait=30).perform_later()
    jobs = [NowhereJob(), NowhereJob()]
    with pytest.raises(EnqueueError):
        perform_all_later(jobs)
    assert [job.successfully_enqueued for job in jobs] == [False, False]
    app.close()
