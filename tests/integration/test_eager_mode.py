"""Eager mode with Celery's own settings only: ``task_always_eager`` and ``task_eager_propagates``.

No broker is reachable in these tests (the broker URL points at a closed port): an eager app
must never touch it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from celery import Celery, chain

from activejob_celery import ApplicationJob, init_app, job_status, retry_on
from activejob_celery.discarding import after_discard
from activejob_celery.rescue import discard_on

UNREACHABLE = "redis://127.0.0.1:1/0"


def _app(**conf: object) -> Celery:
    app = Celery("eager_test", broker=UNREACHABLE, set_as_current=False)
    app.conf.update(task_always_eager=True, **conf)
    init_app(app)
    return app


@pytest.fixture
def eager_app() -> Iterator[Celery]:
    app = _app()
    yield app
    app.close()


@pytest.fixture
def propagating_app() -> Iterator[Celery]:
    app = _app(task_eager_propagates=True)
    yield app
    app.close()


class Flaky(Exception):
    pass


class Fatal(Exception):
    pass


def test_perform_later_runs_the_job_inline_without_a_broker(eager_app, aj_job_buffer):
    class EagerJob(ApplicationJob):
        def perform(self, number, *, tag):
            aj_job_buffer.add((number, tag, self.executions, self.provider_job_id))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Celery's AlwaysEagerIgnored must not be raised
        job = EagerJob.perform_later(7, tag="x")
    assert job.successfully_enqueued
    assert job.enqueue_error is None
    assert aj_job_buffer.values == [(7, "x", 1, job.provider_job_id)]


def test_set_wait_runs_at_once_as_celery_ignores_countdown(eager_app, aj_job_buffer):
    class LaterJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add("ran")

    job = LaterJob.set(wait=3600).perform_later()
    assert job.successfully_enqueued
    assert aj_job_buffer.values == ["ran"]


def test_perform_all_later_runs_every_job(eager_app, aj_job_buffer):
    from activejob_celery import perform_all_later

    class BulkJob(ApplicationJob):
        def perform(self, number):
            aj_job_buffer.add(number)

    jobs = [BulkJob(1), BulkJob(2), BulkJob(3).set(wait=60)]
    perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)
    assert sorted(aj_job_buffer.values) == [1, 2, 3]


def test_retries_run_inline_at_once_until_the_job_succeeds(eager_app, aj_job_buffer):
    class RetriedJob(ApplicationJob):
        retry_on(Flaky, wait=600, attempts=5)

        def perform(self):
            aj_job_buffer.add(self.executions)
            if self.executions < 3:
                raise Flaky("again")

    job = RetriedJob.perform_later()
    assert job.successfully_enqueued
    assert aj_job_buffer.values == [1, 2, 3]


def test_discard_on_and_after_discard_behave_as_in_a_worker(eager_app, aj_job_buffer):
    class DiscardedJob(ApplicationJob):
        discard_on(Fatal)

        @after_discard
        def note(self, error):
            aj_job_buffer.add(("after_discard", type(error).__name__))

        def perform(self):
            raise Fatal("no")

    job = DiscardedJob.perform_later()
    assert job.successfully_enqueued
    assert aj_job_buffer.values == [("after_discard", "Fatal")]


def test_without_propagation_an_error_stays_in_the_run(eager_app):
    class FailingJob(ApplicationJob):
        def perform(self):
            raise Fatal("kept in the eager result")

    job = FailingJob.perform_later()
    assert job.successfully_enqueued


def test_with_task_eager_propagates_the_error_reaches_the_caller(propagating_app):
    class FailingJob(ApplicationJob):
        def perform(self):
            raise Fatal("raised to the caller")

    with pytest.raises(Fatal, match="raised to the caller"):
        FailingJob.perform_later()


def test_exhausted_retries_propagate_the_last_error(propagating_app, aj_job_buffer):
    class AlwaysFlakyJob(ApplicationJob):
        retry_on(Flaky, wait=1, attempts=3)

        def perform(self):
            aj_job_buffer.add(self.executions)
            raise Flaky("still")

    with pytest.raises(Flaky):
        AlwaysFlakyJob.perform_later()
    assert aj_job_buffer.values == [1, 2, 3]


def test_eager_results_and_a_chain(eager_app):
    class DoubleJob(ApplicationJob):
        store_result = True

        def perform(self, number):
            return number * 2

    job = DoubleJob.perform_later(21)
    assert job.result() == 42
    assert chain(DoubleJob.s(1), DoubleJob.s(), DoubleJob.s()).apply().get() == 8


def test_an_eager_chain_passes_results_without_a_result_backend(eager_app, aj_job_buffer):
    class IncrementJob(ApplicationJob):
        def perform(self, number):
            aj_job_buffer.add(number)
            return number + 1

    chain(IncrementJob.s(1), IncrementJob.s(), IncrementJob.s()).delay()
    assert aj_job_buffer.values == [1, 2, 3]


def test_an_eager_discarded_job_result_raises_its_error(eager_app):
    class GoneJob(ApplicationJob):
        store_result = True
        discard_on(Fatal)

        def perform(self):
            raise Fatal("gone")

    job = GoneJob.perform_later()
    with pytest.raises(Fatal, match="gone"):
        job.result()
    assert isinstance(job.result(propagate=False), Fatal)


def test_an_eager_run_writes_no_status_even_with_redis_at_hand(aj_redis, aj_job_buffer):
    app = Celery("eager_status", broker=aj_redis.url, set_as_current=False)
    app.conf.update(task_always_eager=True)
    init_app(app)

    class ReportedJob(ApplicationJob):
        def perform(self):
            self.progress(1, 2, "half")
            aj_job_buffer.add(dict(self.progress_state))

    job = ReportedJob.perform_later()
    assert aj_job_buffer.values == [{"done": 1, "total": 2, "message": "half"}]  # the run's job
    assert job_status(job.job_id) is None  # an unknown id: as docs/celery.md#eager-mode says
    assert [key for key in aj_redis.client.scan_iter() if job.job_id.encode() in key] == []
    app.close()
