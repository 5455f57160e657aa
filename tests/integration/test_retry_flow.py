"""retry_on through a real Redis and a real (in-process) Celery worker.

The retries go through whatever ``adapter.enqueue_at`` uses (Celery ETA or the scheduled set);
the tests only watch what the worker runs, so they hold for either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, signals as celery_signals

from activejob_celery import ApplicationJob, after_discard, failures, retry_on
from tests.support.fixtures import JobBuffer
from tests.support.worker import run_worker, wait_for


class Flaky(Exception): ...


@pytest.fixture
def aj_task_outcomes() -> Iterator[list[tuple[str, str, str]]]:
    """(outcome, task name, task id) for every task the in-process worker finishes."""
    outcomes: list[tuple[str, str, str]] = []

    def on_success(sender: Any = None, **kwargs: Any) -> None:
        outcomes.append(("success", sender.name, sender.request.id))

    def on_failure(sender: Any = None, task_id: str = "", **kwargs: Any) -> None:
        outcomes.append(("failure", sender.name, task_id))

    def on_retry(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
        outcomes.append(("retry", sender.name, request.id))

    celery_signals.task_success.connect(on_success, weak=False)
    celery_signals.task_failure.connect(on_failure, weak=False)
    celery_signals.task_retry.connect(on_retry, weak=False)
    yield outcomes
    celery_signals.task_success.disconnect(on_success)
    celery_signals.task_failure.disconnect(on_failure)
    celery_signals.task_retry.disconnect(on_retry)


@pytest.fixture
def aj_failures() -> Iterator[list[tuple[str, str]]]:
    """(reason, error class) of every job the worker reports as failed for good."""
    seen: list[tuple[str, str]] = []

    def recorder(payload: Any, error: BaseException, *, reason: str, job: Any) -> None:
        seen.append((reason, type(error).__name__))

    failures.add_failure_recorder(recorder)
    yield seen
    failures.remove_failure_recorder(recorder)


def test_a_job_failing_twice_then_succeeding_runs_three_times(
    aj_app: Celery,
    aj_job_buffer: JobBuffer,
    aj_task_outcomes: list[tuple[str, str, str]],
    aj_failures: list[tuple[str, str]],
) -> None:
    """Two failures retried after ~1 s each, then success: same ``job_id``, ``executions`` 1..3,
    and, as Celery's ``Task.retry`` does, one Celery task id for every run: the retried runs end
    in Celery's RETRY (``task_retry``), the last one in SUCCESS."""

    class TwiceFlakyJob(ApplicationJob):
        retry_on(Flaky, wait=1, attempts=3)

        def perform(self, key: str) -> str:
            aj_job_buffer.add((self.job_id, self.executions, self.provider_job_id, key))
            if self.executions < 3:
                raise Flaky(f"attempt {self.executions}")
            return "ok"

    with run_worker(aj_app):
        job = TwiceFlakyJob.perform_later("k")
        assert job.successfully_enqueued
        wait_for(
            lambda: any(o[0] == "success" for o in aj_task_outcomes),
            timeout=40,
            message="three finished runs",
        )
    runs = aj_job_buffer.values
    assert [(job_id, executions, key) for job_id, executions, _, key in runs] == [
        (job.job_id, 1, "k"),
        (job.job_id, 2, "k"),
        (job.job_id, 3, "k"),
    ]
    task_ids = [provider_job_id for _, _, provider_job_id, _ in runs]
    assert task_ids == [job.provider_job_id] * 3
    assert aj_task_outcomes == [
        (outcome, TwiceFlakyJob.job_name, job.provider_job_id)
        for outcome in ("retry", "retry", "success")
    ]
    assert aj_failures == []


def test_a_job_that_always_fails_runs_attempts_times_then_after_discard_once(
    aj_app: Celery,
    aj_job_buffer: JobBuffer,
    aj_task_outcomes: list[tuple[str, str, str]],
    aj_failures: list[tuple[str, str]],
) -> None:
    """``attempts=3``: three runs, then after_discard exactly once; the first two runs end in
    Celery's RETRY and the last one fails (the error is raised again after after_discard)."""

    class AlwaysFailsJob(ApplicationJob):
        retry_on(Flaky, wait=1, attempts=3)

        @after_discard
        def record_discard(self, error: BaseException) -> None:
            aj_job_buffer.add(("after_discard", self.executions, str(error)))

        def perform(self) -> None:
            aj_job_buffer.add(("run", self.executions, self.provider_job_id, self.job_id))
            raise Flaky(f"attempt {self.executions}")

    with run_worker(aj_app):
        job = AlwaysFailsJob.perform_later()
        wait_for(
            lambda: any(o[0] == "failure" for o in aj_task_outcomes),
            timeout=40,
            message="the last run's Celery task to fail",
        )
    values = aj_job_buffer.values
    runs = [v for v in values if v[0] == "run"]
    assert [(executions, job_id) for _, executions, _, job_id in runs] == [
        (1, job.job_id),
        (2, job.job_id),
        (3, job.job_id),
    ]
    assert [v for v in values if v[0] == "after_discard"] == [("after_discard", 3, "attempt 3")]
    assert values[-1][0] == "after_discard"
    task_ids = [provider_job_id for _, _, provider_job_id, _ in runs]
    assert task_ids == [job.provider_job_id] * 3
    assert aj_task_outcomes == [
        ("retry", AlwaysFailsJob.job_name, job.provider_job_id),
        ("retry", AlwaysFailsJob.job_name, job.provider_job_id),
        ("failure", AlwaysFailsJob.job_name, job.provider_job_id),
    ]
    assert aj_failures == [("exhausted", "Flaky")]
