"""``Job.set(timeout=...)``: one enqueue's timeout, carried by its payload to the run and retries.

Also the wave-2 acceptance case of a timeout in a ``Continuable`` job: an error after the job
advanced resumes it (keeping its progress) instead of going through ``retry_on``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from activejob_celery import (
    ApplicationJob,
    ConfigurationError,
    Continuable,
    JobTimeoutError,
    after_discard,
    discard_on,
    retry_on,
)
from activejob_celery.continuation import Step
from activejob_celery.core import validate_payload
from activejob_celery.errors import MalformedPayloadError
from activejob_celery.testing import TestAdapter, perform_enqueued_jobs

seen: list[Any] = []


class UntimedJob(ApplicationJob):
    """No class timeout: up to 10 s of short sleeps."""

    def perform(self) -> None:
        for _ in range(500):
            time.sleep(0.02)
        seen.append("finished")


class LongTimeoutJob(UntimedJob):
    timeout = timedelta(seconds=30)


class RetriedUntimedJob(UntimedJob):
    retry_on(JobTimeoutError, wait=5, attempts=3, jitter=0)


class DiscardedUntimedJob(UntimedJob):
    discard_on(JobTimeoutError)

    @after_discard
    def noted(self, error: Exception) -> None:
        seen.append(f"discarded: {error}")


class WalkJob(Continuable, ApplicationJob):
    """Advances its cursor to 3, then sleeps past its 0.5 s timeout."""

    timeout = 0.5
    retry_on(JobTimeoutError, wait=5, attempts=3, jitter=0)

    def perform(self) -> None:
        self.step("walk", self.walk, start=0)

    def walk(self, step: Step) -> None:
        while step.cursor < 100:
            if step.cursor == 3:
                time.sleep(10)
            step.advance()


@pytest.fixture(autouse=True)
def _clean(aj_adapter: TestAdapter) -> None:
    seen.clear()


def test_set_timeout_times_out_a_run_of_a_class_without_one() -> None:
    with pytest.raises(JobTimeoutError, match=r"UntimedJob .* passed its timeout of 0.3 s"):
        UntimedJob.set(timeout=0.3).perform_now()
    assert seen == []


def test_set_timeout_replaces_the_class_timeout_for_that_enqueue() -> None:
    started = time.monotonic()
    with pytest.raises(JobTimeoutError, match=r"passed its timeout of 0\.2 s"):
        LongTimeoutJob.set(timeout=timedelta(seconds=0.2)).perform_now()
    assert time.monotonic() - started < 5  # not the class's 30 s


def test_the_payload_carries_the_timeout_of_that_enqueue_only(aj_adapter: TestAdapter) -> None:
    UntimedJob.set(timeout=timedelta(minutes=2)).perform_later()
    UntimedJob.perform_later()
    LongTimeoutJob.perform_later()  # the class's timeout is the class's: not in the payload
    timed, untimed, classed = aj_adapter.enqueued_jobs
    assert timed["timeout"] == 120.0
    assert "timeout" not in untimed and "timeout" not in classed
    job = UntimedJob.deserialize(timed)
    assert job._timeout == 120.0
    assert "timeout" not in UntimedJob.deserialize(untimed).serialize()


def test_a_retry_keeps_the_timeout_of_its_enqueue(aj_adapter: TestAdapter) -> None:
    RetriedUntimedJob.set(timeout=0.2).perform_now()  # times out; retry_on enqueues a retry
    [retry] = aj_adapter.enqueued_jobs
    assert (retry["executions"], retry["timeout"]) == (1, 0.2)
    started = time.monotonic()
    RetriedUntimedJob.deserialize(retry).perform_now()  # its second run times out as well
    assert time.monotonic() - started < 5
    assert aj_adapter.enqueued_jobs[-1]["executions"] == 2
    assert seen == []


def test_the_test_adapter_performs_an_enqueued_job_with_its_timeout() -> None:
    DiscardedUntimedJob.set(timeout=0.2).perform_later()
    assert perform_enqueued_jobs() == 1  # rebuilt from its record: the timeout comes along
    [said] = seen
    assert said.startswith("discarded: ") and "passed its timeout of 0.2 s" in said


@pytest.mark.parametrize(
    "value", [0, -1, True, "5", float("nan"), float("inf"), timedelta(0)], ids=repr
)
def test_a_bad_timeout_is_refused_when_set(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout="):
        UntimedJob.set(timeout=value)
    with pytest.raises(ConfigurationError, match="timeout="):
        UntimedJob().set(timeout=value)


@pytest.mark.parametrize("value", [0, -2.5, True, "5", [1]], ids=repr)
def test_a_payload_with_a_bad_timeout_is_malformed(value: Any) -> None:
    payload: Any = UntimedJob().serialize()
    validate_payload(payload)
    payload["timeout"] = value
    with pytest.raises(MalformedPayloadError, match="'timeout'"):
        validate_payload(payload)


def test_a_continuable_job_that_times_out_after_advancing_is_resumed_not_retried(
    aj_adapter: TestAdapter,
) -> None:
    job = WalkJob()
    job.perform_now()
    [resumed] = aj_adapter.enqueued_jobs
    assert resumed["continuation"] == {"completed": [], "current": ["walk", 3]}
    # One count, keyed by the error's message as a resume keys it; retry_on would have keyed
    # it "[activejob_celery.errors.JobTimeoutError]"
    [(key, count)] = resumed["exception_executions"].items()
    assert "passed its timeout of 0.5 s" in key and count == 1
