"""Results: ``store_result`` jobs keep ``perform``'s value in the result backend, once per job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult

from activejob_celery import ApplicationJob, retry_on
from activejob_celery.errors import ConfigurationError
from activejob_celery.rescue import discard_on
from tests.support.fixtures import make_app
from tests.support.results import UNCLOSED_SOCKETS, close_results
from tests.support.worker import run_worker, wait_for

pytestmark = pytest.mark.filterwarnings(UNCLOSED_SOCKETS)


class Flaky(Exception):
    pass


class Fatal(Exception):
    pass


@pytest.fixture
def results_app(aj_redis: Any) -> Iterator[Celery]:
    app = make_app(aj_redis.url, result_backend=aj_redis.url)
    yield app
    close_results(app)


def _stored_ids(client: Any) -> list[str]:
    prefix = b"celery-task-meta-"
    return sorted(key[len(prefix) :].decode() for key in client.scan_iter(match=prefix + b"*"))


def test_store_result_is_readable_through_async_result_and_job_result(results_app, aj_redis):
    class TotalJob(ApplicationJob):
        store_result = True

        def perform(self, *numbers, scale=1):
            return {"total": sum(numbers) * scale}

    with run_worker(results_app):
        job = TotalJob.perform_later(1, 2, 3, scale=10)
        value = AsyncResult(job.provider_job_id, app=results_app).get(timeout=30)
        assert value == {"total": 60}
        assert job.result(timeout=30) == {"total": 60}
    assert _stored_ids(aj_redis.client) == [job.provider_job_id]


def test_the_setting_turns_results_on_for_every_job(aj_redis):
    app = make_app(aj_redis.url, result_backend=aj_redis.url, activejob_store_results=True)

    class AnswerJob(ApplicationJob):
        def perform(self):
            return 42

    with run_worker(app):
        assert AnswerJob.perform_later().result(timeout=30) == 42
    close_results(app)


def test_jobs_keep_ignoring_results_when_off(results_app, aj_redis, aj_job_buffer):
    class QuietJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add("ran")
            return 42

    with run_worker(results_app):
        job = QuietJob.perform_later()
        wait_for(lambda: aj_job_buffer.values, timeout=30)
    assert _stored_ids(aj_redis.client) == []
    with pytest.raises(ConfigurationError, match="store_result"):
        job.result(timeout=1)


def test_a_retried_job_stores_one_result_under_its_first_task_id(
    results_app, aj_redis, aj_publishes
):
    class RetriedJob(ApplicationJob):
        store_result = True
        retry_on(Flaky, wait=0, attempts=5)

        def perform(self, value):
            if self.executions < 3:
                raise Flaky(f"run {self.executions}")
            return [value, self.executions]

    with run_worker(results_app):
        job = RetriedJob.perform_later("done")
        value = AsyncResult(job.provider_job_id, app=results_app).get(timeout=30)
    assert value == ["done", 3]
    task_ids = [headers["id"] for headers in aj_publishes if headers.get("task") == job.job_name]
    assert len(task_ids) == 3  # the first enqueue and two retries, each its own message
    assert _stored_ids(aj_redis.client) == [job.provider_job_id]


def test_a_job_that_fails_for_good_after_retries_stores_its_failure_once(results_app, aj_redis):
    class HopelessJob(ApplicationJob):
        store_result = True
        retry_on(Flaky, wait=0, attempts=2)

        def perform(self):
            raise Flaky("never")

    with run_worker(results_app):
        job = HopelessJob.perform_later()
        result = AsyncResult(job.provider_job_id, app=results_app)
        wait_for(lambda: result.state == "FAILURE", timeout=30)
    with pytest.raises(Exception, match="never"):
        job.result(timeout=5)
    assert _stored_ids(aj_redis.client) == [job.provider_job_id]


def test_a_discarded_job_stores_its_error_as_the_failure(results_app, aj_redis):
    class DiscardedJob(ApplicationJob):
        store_result = True
        discard_on(Fatal)

        def perform(self):
            raise Fatal("discarded")

    with run_worker(results_app):
        job = DiscardedJob.perform_later()
        result = AsyncResult(job.provider_job_id, app=results_app)
        wait_for(lambda: result.state == "FAILURE", timeout=30)
    assert "discarded" in str(result.result)
    assert _stored_ids(aj_redis.client) == [job.provider_job_id]
