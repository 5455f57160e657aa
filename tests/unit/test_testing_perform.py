"""perform_enqueued_jobs: snapshots without a block (Rails #38686); recursion, retries with one."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from activejob_celery import (
    ApplicationJob,
    DeserializationError,
    discard_on,
    queue_as,
    retry_on,
)
from activejob_celery.testing import (
    TestAdapter,
    assert_enqueued_jobs,
    assert_enqueued_with,
    assert_performed_jobs,
    clear_enqueued_jobs,
    clear_performed_jobs,
    enqueued_jobs,
    perform_enqueued_jobs,
    performed_jobs,
    performing_enqueued_jobs,
    restore_adapters,
    use_test_adapter,
)
from tests.unit.helpers import FrozenClock

ran: list[object] = []


class Flaky(Exception):
    pass


class HelloJob(ApplicationJob):
    def perform(self, name: str) -> str:
        ran.append(name)
        return name


class LowJob(ApplicationJob):
    queue_as("low")

    def perform(self) -> None:
        ran.append("low")


class ParentJob(ApplicationJob):
    def perform(self, depth: int) -> None:
        ran.append(f"parent {depth}")
        if depth:
            ParentJob.perform_later(depth - 1)
        HelloJob.perform_later(f"child of {depth}")


class RetryingJob(ApplicationJob):
    """Fails ``failures`` times, then succeeds; retried after 30 s, 3 attempts in all."""

    retry_on(Flaky, wait=30, attempts=3, jitter=0)

    def perform(self, failures: int) -> None:
        ran.append(self.executions)
        if self.executions <= failures:
            raise Flaky(f"attempt {self.executions}")


class GivingUpJob(ApplicationJob):
    @retry_on(Flaky, wait=30, attempts=2, jitter=0)
    def gave_up(self, error: Exception) -> None:
        ran.append(f"gave up after {self.executions}: {error}")

    def perform(self) -> None:
        ran.append(self.executions)
        raise Flaky("always")


class TolerantJob(ApplicationJob):
    discard_on(DeserializationError)

    def perform(self, value: object) -> None:
        ran.append(value)


@pytest.fixture(autouse=True)
def aj_swapped() -> Iterator[TestAdapter]:
    ran.clear()
    adapter = use_test_adapter()
    yield adapter
    restore_adapters()


# --------------------------------------------------------------------------- without a block


def test_without_a_block_it_performs_what_is_queued_now_and_returns_the_count(
    aj_swapped: TestAdapter,
) -> None:
    HelloJob.perform_later("david")
    HelloJob.set(wait=3600).perform_later("later")
    LowJob.perform_later()

    assert perform_enqueued_jobs() == 3

    assert ran == ["david", "later", "low"]
    assert enqueued_jobs() == []
    assert [r["job"] for r in performed_jobs()] == [HelloJob, HelloJob, LowJob]
    assert perform_enqueued_jobs() == 0


def test_without_a_block_filters_choose_the_jobs_and_the_rest_stay_enqueued() -> None:
    HelloJob.perform_later("a")
    LowJob.perform_later()
    HelloJob.set(wait=3600).perform_later("in an hour")

    assert perform_enqueued_jobs(only=LowJob) == 1
    assert perform_enqueued_jobs(queue="low") == 0
    assert perform_enqueued_jobs(at=time.time() + 60) == 1  # "a"; unscheduled jobs are due
    assert ran == ["low", "a"]
    assert perform_enqueued_jobs(exclude=HelloJob) == 0
    assert perform_enqueued_jobs(at=datetime.now(timezone.utc) + timedelta(hours=2)) == 1
    assert ran == ["low", "a", "in an hour"]


def test_without_a_block_a_retry_is_enqueued_not_performed_again_rails_38686(
    aj_swapped: TestAdapter, aj_clock: FrozenClock
) -> None:
    RetryingJob.perform_later(5)

    assert perform_enqueued_jobs() == 1

    assert ran == [1]
    assert_performed_jobs(1)
    retry = assert_enqueued_with(job=RetryingJob, at=aj_clock.now + timedelta(seconds=30))
    assert retry.executions == 1
    assert list(retry.exception_executions.values()) == [1]
    assert perform_enqueued_jobs() == 1  # the next round runs the retry, once
    assert ran == [1, 2]
    with pytest.raises(Flaky, match="attempt 3"):  # attempts exhausted: the error is raised
        perform_enqueued_jobs()
    assert ran == [1, 2, 3]
    assert enqueued_jobs() == []
    assert_performed_jobs(3)


def test_without_a_block_jobs_enqueued_by_performed_jobs_wait_for_the_next_call() -> None:
    ParentJob.perform_later(1)

    assert perform_enqueued_jobs() == 1
    assert ran == ["parent 1"]
    assert_enqueued_jobs(2)
    assert perform_enqueued_jobs() == 2
    assert ran == ["parent 1", "parent 0", "child of 1"]


def test_arguments_are_decoded_inside_perform_now_so_decoding_errors_are_rescuable(
    aj_swapped: TestAdapter,
) -> None:
    TolerantJob.perform_later("fine")
    aj_swapped.enqueued_jobs[0]["arguments"] = [{"_aj_serialized": "NoSuchSerializer"}]

    assert perform_enqueued_jobs() == 1  # discarded by discard_on(DeserializationError)

    assert ran == []
    assert_performed_jobs(1)


# --------------------------------------------------------------------------- with a block


def test_with_a_block_jobs_enqueued_inside_run_at_once_and_earlier_ones_do_not() -> None:
    HelloJob.perform_later("before")

    result = perform_enqueued_jobs(block=lambda: HelloJob.perform_later("inside").arguments)

    assert result == ["inside"]
    assert ran == ["inside"]
    assert_enqueued_with(job=HelloJob, args=["before"])
    assert_performed_jobs(1)


def test_with_a_block_jobs_enqueued_by_jobs_run_too_recursively() -> None:
    perform_enqueued_jobs(block=lambda: ParentJob.perform_later(2))

    assert ran == ["parent 2", "parent 1", "parent 0", "child of 0", "child of 1", "child of 2"]
    assert_performed_jobs(6)
    assert enqueued_jobs() == []


def test_with_a_block_retries_respect_the_attempts_of_retry_on_rails_38391() -> None:
    perform_enqueued_jobs(block=lambda: RetryingJob.perform_later(2))
    assert ran == [1, 2, 3]  # two failures, retried at once, third attempt succeeds
    assert_performed_jobs(3)

    ran.clear()
    clear_performed_jobs()
    with pytest.raises(Flaky, match="attempt 3") as raised:
        perform_enqueued_jobs(block=lambda: RetryingJob.perform_later(10))
    assert ran == [1, 2, 3]  # stopped at attempts=3, not retried for ever
    assert_performed_jobs(3)
    if sys.version_info >= (3, 11):
        assert raised.value.__notes__ == [
            "(raised by RetryingJob, performed at once inside perform_enqueued_jobs: a job's "
            "error reaches the code that enqueued it; put pytest.raises / assertRaises inside "
            "the block if you expect it)"
        ]

    ran.clear()
    perform_enqueued_jobs(block=GivingUpJob.perform_later)
    assert ran == [1, 2, "gave up after 2: always"]


def test_a_block_with_at_leaves_scheduled_retries_enqueued_until_their_time_comes(
    aj_clock: FrozenClock,
) -> None:
    now = aj_clock.now

    perform_enqueued_jobs(at=now, block=lambda: RetryingJob.perform_later(1))

    assert ran == [1]
    assert_enqueued_with(job=RetryingJob, at=now + timedelta(seconds=30))
    assert perform_enqueued_jobs(at=now + timedelta(seconds=10)) == 0  # not due yet
    assert perform_enqueued_jobs(at=now + timedelta(seconds=31)) == 1  # the retry runs
    assert ran == [1, 2]


def test_a_block_honours_only_exclude_and_queue() -> None:
    perform_enqueued_jobs(
        only=LowJob, block=lambda: [HelloJob.perform_later("x"), LowJob.perform_later()]
    )
    perform_enqueued_jobs(
        exclude=LowJob, block=lambda: [HelloJob.perform_later("y"), LowJob.perform_later()]
    )
    perform_enqueued_jobs(
        queue="low", block=lambda: [HelloJob.perform_later("z"), LowJob.perform_later()]
    )
    perform_enqueued_jobs(
        only=lambda job: job.arguments == ["w"],  # callables get the job while it is enqueued
        block=lambda: [HelloJob.perform_later("w"), HelloJob.perform_later("v")],
    )

    assert ran == ["low", "y", "low", "w"]
    assert [r["args"] for r in enqueued_jobs()] == [["x"], [], ["z"], ["v"]]


def test_performing_enqueued_jobs_is_the_with_form_and_restores_the_flags(
    aj_swapped: TestAdapter,
) -> None:
    with performing_enqueued_jobs(only=HelloJob):
        HelloJob.perform_later("inside")
        LowJob.perform_later()
        assert aj_swapped.perform_enqueued_jobs is True
    HelloJob.perform_later("after")

    assert ran == ["inside"]
    assert (aj_swapped.perform_enqueued_jobs, aj_swapped.perform_enqueued_at_jobs) == (False, False)
    assert (aj_swapped.filter, aj_swapped.reject, aj_swapped.queue, aj_swapped.at) == (None,) * 4

    with pytest.raises(Flaky), performing_enqueued_jobs(at=time.time()):
        RetryingJob.perform_later(0)
        raise Flaky("the test's own error")
    assert aj_swapped.perform_enqueued_jobs is False and aj_swapped.at is None


def test_blocks_nest_and_the_inner_filters_apply_inside() -> None:
    with performing_enqueued_jobs():
        HelloJob.perform_later("outer")
        with performing_enqueued_jobs(only=LowJob):
            HelloJob.perform_later("inner, filtered out")
            LowJob.perform_later()
        HelloJob.perform_later("outer again")

    assert ran == ["outer", "low", "outer again"]
    assert_enqueued_with(job=HelloJob, args=["inner, filtered out"])


def test_the_lists_are_live_and_can_be_cleared(aj_swapped: TestAdapter) -> None:
    HelloJob.perform_later("a")
    perform_enqueued_jobs()
    HelloJob.perform_later("b")

    assert enqueued_jobs() is aj_swapped.enqueued_jobs and len(enqueued_jobs()) == 1
    assert performed_jobs() is aj_swapped.performed_jobs and len(performed_jobs()) == 1
    clear_enqueued_jobs()
    assert aj_swapped.enqueued_jobs == [] and len(performed_jobs()) == 1
    clear_performed_jobs()
    assert aj_swapped.performed_jobs == []
