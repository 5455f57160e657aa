"""Job timeouts outside Celery's pools: the SIGALRM and watchdog mechanisms, the task limits."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from activejob_celery import (
    ApplicationJob,
    ConfigurationError,
    JobTimeoutError,
    after_discard,
    around_perform,
    discard_on,
    retry_on,
    timeouts,
)
from activejob_celery.app import register_task
from activejob_celery.perform_body import pool_kind, start_warnings
from activejob_celery.testing import TestAdapter

seen: list[Any] = []


class LoopingJob(ApplicationJob):
    timeout = timedelta(seconds=0.3)

    def perform(self) -> None:
        for _ in range(500):  # up to 10 s in short sleeps
            time.sleep(0.02)
        seen.append("finished")


class SleepingJob(ApplicationJob):
    timeout = 0.3

    def perform(self) -> None:
        time.sleep(20)  # one long C call
        seen.append("finished")


class RetriedJob(ApplicationJob):
    timeout = 0.2
    retry_on(JobTimeoutError, wait=5, attempts=3, jitter=0)

    def perform(self) -> None:
        seen.append(self.executions)
        for _ in range(500):
            time.sleep(0.02)


class DiscardedJob(ApplicationJob):
    timeout = 0.2
    discard_on(JobTimeoutError)

    @after_discard
    def noted(self, error: Exception) -> None:
        seen.append(type(error).__name__)

    @around_perform
    def watched(self) -> Any:
        try:
            yield
        except JobTimeoutError as error:
            seen.append(f"around saw {error}")
            raise

    def perform(self) -> None:
        for _ in range(500):
            time.sleep(0.02)


class QuickJob(ApplicationJob):
    timeout = 0.2

    def perform(self) -> str:
        return "done"


class SoftLimitedJob(ApplicationJob):
    def perform(self) -> None:
        raise SoftTimeLimitExceeded("Celery's soft limit")


@pytest.fixture(autouse=True)
def _clean(aj_adapter: TestAdapter) -> None:
    seen.clear()


def test_a_loop_of_short_sleeps_raises_job_timeout_error_on_the_main_thread() -> None:
    with pytest.raises(JobTimeoutError, match=r"LoopingJob .* passed its timeout of 0.3 s"):
        LoopingJob.perform_now()
    assert seen == []


@pytest.mark.timeout(120, method="thread")  # pytest-timeout's own SIGALRM would hide ours
def test_one_long_sleep_is_interrupted_on_the_main_thread() -> None:
    with pytest.raises(JobTimeoutError):
        SleepingJob.perform_now()
    assert seen == []


def test_a_timeout_in_another_thread_is_raised_by_the_watchdog() -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            LoopingJob.perform_now()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert [type(error) for error in errors] == [JobTimeoutError]
    assert seen == []


def test_retry_on_job_timeout_error_enqueues_a_retry(aj_adapter: TestAdapter) -> None:
    RetriedJob.perform_now()
    assert seen == [1]
    assert len(aj_adapter.enqueued_jobs) == 1
    assert aj_adapter.enqueued_jobs[0]["job"] is RetriedJob


def test_discard_on_job_timeout_error_runs_after_discard_and_around_sees_it() -> None:
    DiscardedJob.perform_now()
    assert seen[0].startswith(f"around saw {DiscardedJob.job_name}")
    assert seen[1:] == ["JobTimeoutError"]


def test_a_job_that_finishes_in_time_leaves_no_timer_behind() -> None:
    assert QuickJob.perform_now() == "done"
    time.sleep(0.4)  # past the timeout: nothing may be raised here any more
    assert QuickJob.perform_now() == "done"


def test_celery_soft_time_limit_becomes_job_timeout_error_with_its_cause() -> None:
    with pytest.raises(JobTimeoutError, match="passed its time limit") as raised:
        SoftLimitedJob.perform_now()
    assert isinstance(raised.value.__cause__, SoftTimeLimitExceeded)


def test_timeout_seconds_reads_timedeltas_and_numbers_and_refuses_the_rest() -> None:
    assert timeouts.timeout_seconds(LoopingJob) == 0.3
    assert timeouts.timeout_seconds(SleepingJob) == 0.3
    assert timeouts.timeout_seconds(SoftLimitedJob) is None

    class Bad:
        timeout = "10 minutes"

    with pytest.raises(ConfigurationError, match="timeout = '10 minutes'"):
        timeouts.timeout_seconds(Bad)


def test_the_job_task_carries_soft_and_hard_limits(aj_settings: Any) -> None:
    aj_settings(timeout_grace=5.0)
    app = Celery("limits", set_as_current=False)
    task = register_task(app, LoopingJob)
    assert (task.soft_time_limit, task.time_limit) == (None, 5.3)  # the soft limit is ours
    plain = register_task(app, SoftLimitedJob)
    assert plain.soft_time_limit is None  # no timeout: Celery's own settings apply
    assert plain.time_limit == app.conf.task_time_limit


def test_start_warnings_name_the_jobs_a_pool_cannot_stop() -> None:
    jobs = [LoopingJob, SoftLimitedJob]
    name = LoopingJob.job_name
    assert start_warnings("prefork", jobs, 1) == []
    (solo,) = start_warnings("solo", jobs, 1)
    assert name in solo and "activejob_timeout_grace" in solo and "--pool prefork" in solo
    assert SoftLimitedJob.job_name not in solo
    (threads,) = start_warnings("threads", jobs, 1)
    assert "long C call" in threads
    (gevent,) = start_warnings("gevent", jobs, 1)
    assert "not enforced" in gevent
    assert start_warnings("solo", [], 4) == []  # solo runs that many async jobs at once
    (concurrency,) = start_warnings("prefork", [], 4)
    assert "activejob_async_concurrency = 4 is only used by solo workers" in concurrency


def test_pool_kind_reads_aliases_and_classes() -> None:
    from celery.concurrency.thread import TaskPool

    assert pool_kind("solo") == "solo"
    assert pool_kind("prefork") == pool_kind("processes") == "prefork"
    assert pool_kind(TaskPool) == "threads"
    assert pool_kind("myapp.pools:Custom") == "custom"
