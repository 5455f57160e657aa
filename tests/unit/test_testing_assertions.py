"""The assertions: pass and fail paths, with Rails' failure messages and the jobs seen instead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from unittest import mock

import pytest

from activejob_celery import ApplicationJob, queue_as, queue_with_priority
from activejob_celery.testing import (
    JobMatch,
    TestAdapter,
    assert_enqueued_jobs,
    assert_enqueued_with,
    assert_no_enqueued_jobs,
    assert_no_performed_jobs,
    assert_performed_jobs,
    assert_performed_with,
    expect_enqueued_jobs,
    expect_enqueued_with,
    expect_no_enqueued_jobs,
    expect_no_performed_jobs,
    expect_performed_jobs,
    expect_performed_with,
    perform_enqueued_jobs,
    restore_adapters,
    use_test_adapter,
)

HELLO = (
    "{'job': HelloJob, 'args': ['david'], 'kwargs': {}, 'queue': 'default', "
    "'priority': None, 'at': None}"
)
LOGGING = (
    "{'job': LoggingJob, 'args': [], 'kwargs': {}, 'queue': 'logs', 'priority': 5, 'at': None}"
)


class HelloJob(ApplicationJob):
    def perform(self, name: str, *, greeting: str = "hello") -> None: ...


class LoggingJob(ApplicationJob):
    queue_as("logs")
    queue_with_priority(5)

    def perform(self) -> None: ...


@pytest.fixture(autouse=True)
def aj_swapped() -> Iterator[TestAdapter]:
    adapter = use_test_adapter()
    yield adapter
    restore_adapters()


def failure(assertion: object) -> str:
    """The message of the AssertionError that calling ``assertion`` raises."""
    with pytest.raises(AssertionError) as raised:
        assertion()  # type: ignore[operator]
    return str(raised.value)


# --------------------------------------------------------------------------- assert_enqueued_jobs


def test_assert_enqueued_jobs_counts_what_is_enqueued() -> None:
    assert_enqueued_jobs(0)
    assert_no_enqueued_jobs()
    HelloJob.perform_later("david")
    assert_enqueued_jobs(1)
    LoggingJob.perform_later()
    assert_enqueued_jobs(2)
    assert_enqueued_jobs(1, only=LoggingJob)
    assert_enqueued_jobs(2, only=[HelloJob, LoggingJob])
    assert_enqueued_jobs(1, exclude=HelloJob)
    assert_enqueued_jobs(1, queue="logs")
    assert_enqueued_jobs(1, only=lambda record: record["args"] == ["david"])
    assert_no_enqueued_jobs(queue="urgent")


def test_assert_enqueued_jobs_fails_with_the_count_and_the_jobs_seen() -> None:
    assert failure(lambda: assert_enqueued_jobs(1)) == "1 job expected, but 0 were enqueued"

    HelloJob.perform_later("david")
    assert failure(lambda: assert_enqueued_jobs(2)) == (
        f"2 jobs expected, but 1 was enqueued\n\nEnqueued:\n  {HELLO}"
    )
    assert failure(lambda: assert_no_enqueued_jobs()) == (
        f"0 jobs expected, but 1 was enqueued\n\nEnqueued:\n  {HELLO}"
    )

    LoggingJob.perform_later()
    assert failure(lambda: assert_enqueued_jobs(2, only=LoggingJob)) == (
        f"2 jobs expected, but 1 was enqueued\n\nEnqueued:\n  {LOGGING}"
        f"\n\nAlso enqueued, not counted (only/exclude/queue):\n  {HELLO}"
    )
    assert failure(lambda: assert_enqueued_jobs(1, queue="urgent")) == (
        "1 job expected, but 0 were enqueued\n\n"
        f"Also enqueued, not counted (only/exclude/queue):\n  {HELLO}\n  {LOGGING}"
    )


def test_assert_enqueued_jobs_with_a_block_counts_only_what_the_block_enqueues() -> None:
    HelloJob.perform_later("before")
    assert_enqueued_jobs(1, block=lambda: HelloJob.perform_later("david"))
    assert_enqueued_jobs(2, block=lambda: [HelloJob.perform_later("a"), LoggingJob.perform_later()])
    assert_enqueued_jobs(
        1, exclude=HelloJob, block=lambda: [HelloJob.perform_later("b"), LoggingJob.perform_later()]
    )
    assert_no_enqueued_jobs(block=lambda: None)
    assert_no_enqueued_jobs(only=LoggingJob, block=lambda: HelloJob.perform_later("c"))

    assert failure(
        lambda: assert_enqueued_jobs(2, block=lambda: HelloJob.perform_later("david"))
    ) == (f"2 jobs expected, but 1 was enqueued\n\nEnqueued:\n  {HELLO}")
    assert failure(
        lambda: assert_no_enqueued_jobs(block=lambda: HelloJob.perform_later("david"))
    ) == (f"0 jobs expected, but 1 was enqueued\n\nEnqueued:\n  {HELLO}")


def test_the_with_forms_of_the_count_assertions() -> None:
    with expect_enqueued_jobs(2, queue="default"):
        HelloJob.perform_later("a")
        HelloJob.perform_later("b")
    with expect_no_enqueued_jobs(only=LoggingJob):
        HelloJob.perform_later("c")

    with (
        pytest.raises(AssertionError, match=r"^1 job expected, but 0 were enqueued\n"),
        expect_enqueued_jobs(1, only=LoggingJob),
    ):
        HelloJob.perform_later("david")
    with (
        pytest.raises(AssertionError, match=r"^0 jobs expected, but 1 was enqueued\n"),
        expect_no_enqueued_jobs(),
    ):
        LoggingJob.perform_later()


def test_an_error_inside_a_block_propagates_instead_of_a_count_failure() -> None:
    def broken() -> None:
        HelloJob.perform_later("david")
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        assert_enqueued_jobs(5, block=broken)
    with (
        pytest.raises(KeyError, match="boom"),
        expect_enqueued_jobs(5),
    ):
        broken()


def test_only_and_exclude_together_are_refused() -> None:
    for call in (
        lambda: assert_enqueued_jobs(1, only=HelloJob, exclude=LoggingJob),
        lambda: assert_performed_jobs(1, only=HelloJob, exclude=LoggingJob, block=lambda: None),
        lambda: perform_enqueued_jobs(only=HelloJob, exclude=LoggingJob),
        lambda: perform_enqueued_jobs(only=HelloJob, exclude=LoggingJob, block=lambda: None),
    ):
        with pytest.raises(ValueError, match=r"Cannot specify both `only` and `exclude` options\."):
            call()


# --------------------------------------------------------------------------- assert_enqueued_with


def test_assert_enqueued_with_matches_each_given_attribute() -> None:
    tomorrow_noon = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    HelloJob.perform_later("david", greeting="hi")
    LoggingJob.set(queue="urgent", priority=1, wait_until=tomorrow_noon).perform_later()

    assert_enqueued_with(job=HelloJob)
    assert_enqueued_with(job=HelloJob, args=["david"], kwargs={"greeting": "hi"}, queue="default")
    assert_enqueued_with(args=("david",))  # any sequence of positional arguments
    assert_enqueued_with(job=LoggingJob, queue="urgent", priority=1, at=tomorrow_noon)
    assert_enqueued_with(job=LoggingJob, at=tomorrow_noon + timedelta(seconds=1))  # to the second
    assert_enqueued_with(job=LoggingJob, at=tomorrow_noon.timestamp() - 1)
    assert_enqueued_with(job=LoggingJob, at=tomorrow_noon.replace(tzinfo=None))  # naive is UTC
    assert_enqueued_with(job=HelloJob, args=[mock.ANY], kwargs={"greeting": mock.ANY})

    assert "No enqueued job found with {'job': LoggingJob, 'at': " in failure(
        lambda: assert_enqueued_with(job=LoggingJob, at=tomorrow_noon + timedelta(seconds=2))
    )
    assert "No enqueued job found with {'job': HelloJob, 'kwargs': {}}" in failure(
        lambda: assert_enqueued_with(job=HelloJob, kwargs={})
    )


def test_assert_enqueued_with_takes_callables_as_matchers() -> None:
    HelloJob.perform_later("david", greeting="hi")

    assert_enqueued_with(job=HelloJob, args=lambda args: args[0].startswith("da"))
    assert_enqueued_with(kwargs=lambda kwargs: "greeting" in kwargs, queue=lambda q: q == "default")
    assert_enqueued_with(job=lambda cls: issubclass(cls, ApplicationJob), at=lambda at: at is None)
    message = failure(lambda: assert_enqueued_with(job=HelloJob, args=lambda args: not args))
    assert re.match(
        r"No enqueued job found with \{'job': HelloJob, 'args': <function .*<lambda>>\}\n\n"
        r"Potential matches: \{'job': HelloJob, 'args': \['david'\]",
        message,
    )


def test_assert_enqueued_with_compares_arguments_after_a_payload_round_trip() -> None:
    when = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    HelloJob.perform_later({"at": when, "amount": Decimal("9.99"), 1: (1, 2)})

    assert_enqueued_with(job=HelloJob, args=[{"at": when, "amount": Decimal("9.99"), 1: (1, 2)}])


def test_assert_enqueued_with_returns_the_job_instantiated() -> None:
    at = datetime(2031, 1, 2, 12, 0, tzinfo=timezone.utc)
    enqueued = HelloJob.set(wait_until=at).perform_later("david", greeting="hi")

    found = assert_enqueued_with(job=HelloJob, at=at)

    assert isinstance(found, HelloJob) and found is not enqueued
    assert found.job_id == enqueued.job_id
    assert found.arguments == ["david"]
    assert found.keyword_arguments == {"greeting": "hi"}
    assert found.scheduled_at == at
    assert found.queue_name == "default"


def test_assert_enqueued_with_explains_what_was_enqueued_instead() -> None:
    assert failure(lambda: assert_enqueued_with(job=HelloJob, args=["david"])) == (
        "No enqueued job found with {'job': HelloJob, 'args': ['david']}\n\nNo jobs were enqueued"
    )
    LoggingJob.perform_later()
    assert failure(lambda: assert_enqueued_with(job=HelloJob)) == (
        "No enqueued job found with {'job': HelloJob}\n\n"
        "No jobs of class HelloJob were enqueued, job classes enqueued: LoggingJob"
    )
    HelloJob.perform_later("david")
    HelloJob.perform_later("yves", greeting="hey")
    assert failure(lambda: assert_enqueued_with(job=HelloJob, args=["jeremy"])) == (
        "No enqueued job found with {'job': HelloJob, 'args': ['jeremy']}\n\n"
        f"Potential matches: {HELLO}\n"
        "{'job': HelloJob, 'args': ['yves'], 'kwargs': {'greeting': 'hey'}, 'queue': 'default', "
        "'priority': None, 'at': None}"
    )
    assert failure(lambda: assert_enqueued_with(queue="urgent")) == (
        "No enqueued job found with {'queue': 'urgent'}\n\n"
        f"Potential matches: {LOGGING}\n{HELLO}\n"
        "{'job': HelloJob, 'args': ['yves'], 'kwargs': {'greeting': 'hey'}, 'queue': 'default', "
        "'priority': None, 'at': None}"
    )


def test_assert_enqueued_with_a_block_only_considers_jobs_it_enqueued() -> None:
    HelloJob.perform_later("david")

    found = assert_enqueued_with(
        job=HelloJob, args=["yves"], block=lambda: HelloJob.perform_later("yves")
    )
    assert found.arguments == ["yves"]
    assert failure(
        lambda: assert_enqueued_with(job=HelloJob, args=["david"], block=lambda: None)
    ) == (
        "No enqueued job found with {'job': HelloJob, 'args': ['david']}\n\nNo jobs were enqueued"
    )


def test_expect_enqueued_with_hands_over_the_job_when_the_block_ends() -> None:
    with expect_enqueued_with(job=HelloJob, args=["david"]) as found:
        assert isinstance(found, JobMatch) and found.job is None
        HelloJob.perform_later("david")
    assert isinstance(found.job, HelloJob) and found.job.arguments == ["david"]

    with (
        pytest.raises(
            AssertionError,
            match=r"No jobs of class LoggingJob were enqueued, job classes enqueued: HelloJob",
        ),
        expect_enqueued_with(job=LoggingJob),
    ):
        HelloJob.perform_later("david")


def test_arguments_that_are_not_a_list_are_refused() -> None:
    with pytest.raises(
        TypeError, match="args= takes the list of positional arguments or a callable, not 'david'"
    ):
        assert_enqueued_with(job=HelloJob, args="david")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- performed


def test_assert_performed_jobs_counts_performed_jobs_with_filters() -> None:
    assert_no_performed_jobs()
    HelloJob.perform_later("david")
    LoggingJob.perform_later()
    perform_enqueued_jobs()

    assert_performed_jobs(2)
    assert_performed_jobs(1, only=HelloJob)
    assert_performed_jobs(1, exclude=HelloJob)
    assert_performed_jobs(1, queue="logs")
    assert failure(lambda: assert_performed_jobs(1, only=HelloJob, queue="logs")) == (
        "1 job expected, but 0 were performed\n\n"
        f"Also performed, not counted (only/exclude/queue):\n  {HELLO}\n  {LOGGING}"
    )
    assert failure(lambda: assert_no_performed_jobs(only=LoggingJob)) == (
        f"0 jobs expected, but 1 was performed\n\nPerformed:\n  {LOGGING}\n\n"
        f"Also performed, not counted (only/exclude/queue):\n  {HELLO}"
    )


def test_assert_performed_jobs_with_a_block_performs_what_it_enqueues(
    aj_swapped: TestAdapter,
) -> None:
    HelloJob.perform_later("before")  # not performed by the blocks below

    assert_performed_jobs(1, block=lambda: HelloJob.perform_later("david"))
    assert_performed_jobs(
        1, only=LoggingJob, block=lambda: [HelloJob.perform_later("x"), LoggingJob.perform_later()]
    )
    assert_no_performed_jobs(block=lambda: None)
    assert_no_performed_jobs(exclude=HelloJob, block=lambda: HelloJob.perform_later("y"))
    with expect_performed_jobs(2):
        HelloJob.perform_later("a")
        LoggingJob.perform_later()
    with expect_no_performed_jobs(queue="urgent"):
        HelloJob.perform_later("z")

    assert [r["args"] for r in aj_swapped.enqueued_jobs] == [["before"], ["x"], ["y"], ["z"]]
    assert failure(
        lambda: assert_performed_jobs(2, block=lambda: HelloJob.perform_later("david"))
    ) == (f"2 jobs expected, but 1 was performed\n\nPerformed:\n  {HELLO}")
    with (
        pytest.raises(AssertionError, match=r"^0 jobs expected, but 1 was performed\n"),
        expect_no_performed_jobs(),
    ):
        LoggingJob.perform_later()


def test_assert_performed_with_finds_performed_jobs() -> None:
    assert failure(lambda: assert_performed_with(job=HelloJob)) == (
        "No performed job found with {'job': HelloJob}\n\nNo jobs were performed"
    )
    HelloJob.perform_later("david")
    perform_enqueued_jobs()

    found = assert_performed_with(job=HelloJob, args=["david"], queue="default")
    assert found.arguments == ["david"]
    assert failure(lambda: assert_performed_with(job=LoggingJob)) == (
        "No performed job found with {'job': LoggingJob}\n\n"
        "No jobs of class LoggingJob were performed, job classes performed: HelloJob"
    )
    assert failure(lambda: assert_performed_with(job=HelloJob, args=["yves"])) == (
        "No performed job found with {'job': HelloJob, 'args': ['yves']}\n\n"
        f"Potential matches: {HELLO}"
    )


def test_assert_performed_with_a_block_performs_and_considers_only_those_jobs() -> None:
    HelloJob.perform_later("david")
    perform_enqueued_jobs()

    found = assert_performed_with(job=LoggingJob, priority=5, block=LoggingJob.perform_later)
    assert isinstance(found, LoggingJob)
    assert failure(lambda: assert_performed_with(job=HelloJob, block=LoggingJob.perform_later)) == (
        "No performed job found with {'job': HelloJob}\n\n"
        "No jobs of class HelloJob were performed, job classes performed: LoggingJob"
    )
    with expect_performed_with(job=HelloJob, args=["yves"]) as match:
        HelloJob.perform_later("yves")
    assert match.job is not None and match.job.arguments == ["yves"]
