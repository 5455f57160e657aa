"""Rails' ``activejob/test/cases/exceptions_test.rb``, scenario by scenario.

Every test runs the ported ``RetryJob`` / ``AfterDiscardRetryJob`` through a test adapter that
performs each enqueue at once, retries included (Rails runs this file on such an adapter), with
the clock frozen and ``rand`` stubbed where Rails freezes and stubs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from activejob_celery import ApplicationJob, ConfigurationError, retry_on
from activejob_celery.global_id import GlobalID, add_locator, remove_locator
from activejob_celery.reporting import add_error_reporter, remove_error_reporter
from activejob_celery.testing import TestAdapter
from tests.acceptance import jobs
from tests.acceptance.jobs import BUFFER, AfterDiscardRetryJob, RetriesJob, RetryJob
from tests.acceptance.rails_buffer import buffer_values, scheduled


@pytest.fixture(autouse=True)
def aj_rails_setup(aj_inline_adapter: TestAdapter, monkeypatch: pytest.MonkeyPatch) -> TestAdapter:
    BUFFER.clear()
    for job_class in (RetryJob, AfterDiscardRetryJob, RetriesJob):
        monkeypatch.setattr(job_class, "queue_adapter", aj_inline_adapter)
    return aj_inline_adapter


@pytest.fixture
def aj_reported() -> Iterator[list[tuple[BaseException, dict[str, Any]]]]:
    """Errors handed to the error reporters (Rails ``assert_error_reported``)."""
    seen: list[tuple[BaseException, dict[str, Any]]] = []

    def reporter(error: BaseException, **details: Any) -> None:
        seen.append((error, details))

    add_error_reporter(reporter)
    yield seen
    remove_error_reporter(reporter)


class Person:
    """Rails' ``models/person.rb``: a record that may no longer exist."""

    def __init__(self, person_id: int) -> None:
        self.id = person_id

    def to_global_id(self) -> GlobalID:
        return GlobalID("aj", "Person", self.id)


@pytest.fixture
def aj_people() -> Iterator[None]:
    add_locator("aj", lambda gid: None)  # every Person is gone by the time the job runs
    yield
    remove_locator("aj")


def test_successfully_retry_job_throwing_exception_against_defaults() -> None:
    """Rails: "successfully retry job throwing exception against defaults"."""
    RetryJob.perform_later("DefaultsError", 5)
    assert buffer_values() == [
        "Raised DefaultsError for the 1st time",
        "Raised DefaultsError for the 2nd time",
        "Raised DefaultsError for the 3rd time",
        "Raised DefaultsError for the 4th time",
        "Successfully completed job",
    ]


def test_successfully_retry_job_throwing_exception_against_higher_limit() -> None:
    """Rails: "successfully retry job throwing exception against higher limit"."""
    RetryJob.perform_later("ShortWaitTenAttemptsError", 9)
    assert len(BUFFER.values) == 9


def test_keeps_the_same_attempts_counter_for_exceptions_of_one_declaration() -> None:
    """Rails: "keeps the same attempts counter for several exceptions listed in the same
    retry_on declaration" (``retry_on A, B, attempts: 4`` is one budget of 4)."""
    raising = ["FirstRetryableErrorOfTwo"] * 3 + ["SecondRetryableErrorOfTwo"] * 2
    with pytest.raises(jobs.SecondRetryableErrorOfTwo):
        RetryJob.perform_later(raising, 5)
    assert buffer_values() == [
        "Raised FirstRetryableErrorOfTwo for the 1st time",
        "Raised FirstRetryableErrorOfTwo for the 2nd time",
        "Raised FirstRetryableErrorOfTwo for the 3rd time",
        "Raised SecondRetryableErrorOfTwo for the 4th time",
    ]


def test_keeps_a_separate_attempts_counter_for_each_declaration() -> None:
    """Rails: "keeps a separate attempts counter for each individual retry_on declaration"
    (rails/rails#34337, fixed by #34352)."""
    raising = ["DefaultsError"] * 4 + ["FirstRetryableErrorOfTwo"] * 3
    RetryJob.perform_later(raising, 10)
    assert buffer_values() == [
        "Raised DefaultsError for the 1st time",
        "Raised DefaultsError for the 2nd time",
        "Raised DefaultsError for the 3rd time",
        "Raised DefaultsError for the 4th time",
        "Raised FirstRetryableErrorOfTwo for the 5th time",
        "Raised FirstRetryableErrorOfTwo for the 6th time",
        "Raised FirstRetryableErrorOfTwo for the 7th time",
        "Successfully completed job",
    ]


def test_failed_retry_job_when_exception_kept_occurring_against_defaults() -> None:
    """Rails: "failed retry job when exception kept occurring against defaults"."""
    with pytest.raises(jobs.DefaultsError):
        RetryJob.perform_later("DefaultsError", 6)
    assert BUFFER.values[-1] == "Raised DefaultsError for the 5th time"
    assert len(BUFFER.values) == 5


def test_failed_retry_job_when_exception_kept_occurring_against_higher_limit() -> None:
    """Rails: "failed retry job when exception kept occurring against higher limit"."""
    with pytest.raises(jobs.ShortWaitTenAttemptsError):
        RetryJob.perform_later("ShortWaitTenAttemptsError", 11)
    assert BUFFER.values[-1] == "Raised ShortWaitTenAttemptsError for the 10th time"


def test_discard_job() -> None:
    """Rails: "discard job"."""
    RetryJob.perform_later("DiscardableError", 2)
    assert BUFFER.values == ["Raised DiscardableError for the 1st time"]


def test_custom_handling_of_discarded_job() -> None:
    """Rails: "custom handling of discarded job"."""
    RetryJob.perform_later("CustomDiscardableError", 2)
    assert BUFFER.values[-1] == (
        "Dealt with a job that was discarded in a custom way. Message: CustomDiscardableError"
    )


def test_custom_handling_of_job_that_exceeds_retry_attempts() -> None:
    """Rails: "custom handling of job that exceeds retry attempts"."""
    RetryJob.perform_later("CustomCatchError", 6)
    assert BUFFER.values[-1] == (
        "Dealt with a job that failed to retry in a custom way after 6 attempts. "
        "Message: CustomCatchError"
    )


def test_long_wait_job(aj_frozen_clock: datetime, aj_rand: Callable[[float], None]) -> None:
    """Rails: "long wait job" (``wait: 1.hour``, U = 1, default jitter 0.15: 3600 + 540)."""
    aj_rand(1.0)
    RetryJob.perform_later("LongWaitError", 2, "log_scheduled_at")
    assert buffer_values() == [
        "Raised LongWaitError for the 1st time",
        scheduled(3600 + 1 * 3600 * 0.15),
        "Successfully completed job",
    ]


def test_float_wait_job(aj_frozen_clock: datetime, aj_rand: Callable[[float], None]) -> None:
    """Rails: "float wait job" (``wait: 4.5``, the Float wait of rails/rails#57727)."""
    aj_rand(1.0)
    RetryJob.perform_later("FloatWaitError", 2, "log_scheduled_at")
    assert buffer_values() == [
        "Raised FloatWaitError for the 1st time",
        scheduled(4.5 + 1 * 4.5 * 0.15),
        "Successfully completed job",
    ]


def test_polynomially_retrying_job_includes_jitter(
    aj_frozen_clock: datetime, aj_rand: Callable[[float], None]
) -> None:
    """Rails: "polynomially retrying job includes jitter" (rand stubbed to 2, jitter on n**4)."""
    aj_rand(2.0)

    def jitter(delay: float) -> float:
        return 2.0 * delay * 0.15

    RetryJob.perform_later("PolynomialWaitTenAttemptsError", 5, "log_scheduled_at")
    assert buffer_values() == [
        "Raised PolynomialWaitTenAttemptsError for the 1st time",
        scheduled(3 + jitter(1)),
        "Raised PolynomialWaitTenAttemptsError for the 2nd time",
        scheduled(18 + jitter(16)),
        "Raised PolynomialWaitTenAttemptsError for the 3rd time",
        scheduled(83 + jitter(81)),
        "Raised PolynomialWaitTenAttemptsError for the 4th time",
        scheduled(258 + jitter(256)),
        "Successfully completed job",
    ]


def test_retry_jitter_uses_the_setting_by_default(
    aj_frozen_clock: datetime, aj_rand: Callable[[float], None], aj_jitter: Callable[[float], None]
) -> None:
    """Rails: "retry jitter uses value from ActiveJob::Base.retry_jitter by default"
    (jitter 4.0, U = 1: 7, 82, 407, 1282 s)."""
    aj_jitter(4.0)
    aj_rand(1.0)
    RetryJob.perform_later("PolynomialWaitTenAttemptsError", 5, "log_scheduled_at")
    assert buffer_values() == [
        "Raised PolynomialWaitTenAttemptsError for the 1st time",
        scheduled(7),
        "Raised PolynomialWaitTenAttemptsError for the 2nd time",
        scheduled(82),
        "Raised PolynomialWaitTenAttemptsError for the 3rd time",
        scheduled(407),
        "Raised PolynomialWaitTenAttemptsError for the 4th time",
        scheduled(1282),
        "Successfully completed job",
    ]


@pytest.mark.parametrize(
    ("raising", "jitter", "base", "high"),
    [("DefaultsError", 0.6, 3, 3 * 1.6), ("PolynomialWaitTenAttemptsError", 1.2, 3, 1 * 2.2 + 2)],
)
def test_random_wait_when_jitter_multiplier_is_between_1_and_2(
    aj_frozen_clock: datetime,
    aj_jitter: Callable[[float], None],
    raising: str,
    jitter: float,
    base: float,
    high: float,
) -> None:
    """Rails: "random wait time for default job / polynomially retrying job when retry jitter
    delay multiplier value is between 1 and 2" (rails/rails#38545: the jitter is a float, never
    rounded down to 0)."""
    aj_jitter(jitter)
    RetryJob.perform_later(raising, 2, "log_scheduled_at")
    [(_, scheduled_at)] = [v for v in BUFFER.values if isinstance(v, tuple)]
    delay = (scheduled_at - aj_frozen_clock).total_seconds()
    assert base < delay < high


def test_negative_jitter_is_rejected(aj_jitter: Callable[[float], None]) -> None:
    """Rails: "random wait time for negative jitter value" schedules retries in the past
    (rails/rails#45629, open). Here a negative jitter is a ConfigurationError instead."""
    with pytest.raises(ConfigurationError, match="retry_jitter"):
        aj_jitter(-1.2)
    with pytest.raises(ConfigurationError, match=r"jitter=-1\.2"):

        class NegativeJitterJob(ApplicationJob):
            retry_on(TimeoutError, jitter=-1.2)

            def perform(self) -> None: ...


@pytest.mark.parametrize("raising", ["DisabledJitterError", "ZeroJitterError"])
def test_retry_jitter_disabled_with_none_or_zero(
    aj_frozen_clock: datetime, aj_rand: Callable[[float], None], raising: str
) -> None:
    """Rails: "retry jitter disabled with nil" and "retry jitter disabled with zero"
    (rails/rails#37990 / #38003)."""
    aj_rand(1.0)
    RetryJob.perform_later(raising, 3, "log_scheduled_at")
    assert buffer_values() == [
        f"Raised {raising} for the 1st time",
        scheduled(3),
        f"Raised {raising} for the 2nd time",
        scheduled(3),
        "Successfully completed job",
    ]


def test_custom_wait_retrying_job(
    aj_frozen_clock: datetime, aj_rand: Callable[[float], None], aj_jitter: Callable[[float], None]
) -> None:
    """Rails: "custom wait retrying job" (``->(executions) { executions * 2 }``: 2, 4, 6, 8),
    with a large jitter in force to show a callable is never jittered."""
    aj_jitter(4.0)
    aj_rand(1.0)
    RetryJob.perform_later("CustomWaitTenAttemptsError", 5, "log_scheduled_at")
    assert buffer_values() == [
        "Raised CustomWaitTenAttemptsError for the 1st time",
        scheduled(2),
        "Raised CustomWaitTenAttemptsError for the 2nd time",
        scheduled(4),
        "Raised CustomWaitTenAttemptsError for the 3rd time",
        scheduled(6),
        "Raised CustomWaitTenAttemptsError for the 4th time",
        scheduled(8),
        "Successfully completed job",
    ]


def test_custom_wait_callable_with_an_optional_argument(aj_frozen_clock: datetime) -> None:
    """Rails: "custom wait proc with an optional argument" (``->(executions = 0)``)."""
    RetryJob.perform_later("OptionalArgWaitError", 3, "log_scheduled_at")
    assert buffer_values() == [
        "Raised OptionalArgWaitError for the 1st time",
        scheduled(2),
        "Raised OptionalArgWaitError for the 2nd time",
        scheduled(4),
        "Successfully completed job",
    ]


def test_custom_wait_callable_can_use_the_error(
    aj_frozen_clock: datetime, aj_rand: Callable[[float], None]
) -> None:
    """Rails: "custom wait proc can use the error" (rails/rails#56601: Retry-After + n)."""
    aj_rand(1.0)
    RetryJob.perform_later("RetryWaitIncludedInError", 3, "log_scheduled_at")
    assert buffer_values() == [
        "Raised RetryWaitIncludedInError for the 1st time",
        scheduled(11),
        "Raised RetryWaitIncludedInError for the 2nd time",
        scheduled(12),
        "Successfully completed job",
    ]


def test_individual_execution_counters_drive_each_delay(
    aj_frozen_clock: datetime, aj_rand: Callable[[float], None]
) -> None:
    """Rails: "use individual execution timers when calculating retry delay"
    (rails/rails#35956: the delay uses the declaration's counter, not ``executions``)."""
    aj_rand(1.0)
    raising = ["PolynomialWaitTenAttemptsError", "CustomWaitTenAttemptsError"] * 2
    RetryJob.perform_later(raising, 5, "log_scheduled_at")
    assert buffer_values() == [
        "Raised PolynomialWaitTenAttemptsError for the 1st time",
        scheduled(3 + 1 * 0.15),
        "Raised CustomWaitTenAttemptsError for the 2nd time",
        scheduled(2),
        "Raised PolynomialWaitTenAttemptsError for the 3rd time",
        scheduled(18 + 16 * 0.15),
        "Raised CustomWaitTenAttemptsError for the 4th time",
        scheduled(4),
        "Successfully completed job",
    ]


def test_successfully_retry_job_throwing_one_of_two_retryable_exceptions() -> None:
    """Rails: "successfully retry job throwing one of two retryable exceptions"."""
    RetryJob.perform_later("SecondRetryableErrorOfTwo", 3)
    assert BUFFER.values == [
        "Raised SecondRetryableErrorOfTwo for the 1st time",
        "Raised SecondRetryableErrorOfTwo for the 2nd time",
        "Successfully completed job",
    ]


def test_discard_job_throwing_one_of_two_discardable_exceptions() -> None:
    """Rails: "discard job throwing one of two discardable exceptions"."""
    RetryJob.perform_later("SecondDiscardableErrorOfTwo", 2)
    assert BUFFER.values == ["Raised SecondDiscardableErrorOfTwo for the 1st time"]


def test_successfully_retry_job_throwing_deserialization_error(aj_people: None) -> None:
    """Rails: "successfully retry job throwing DeserializationError": the decoding error is
    raised inside the rescue scope, retried, and counted in ``executions`` every time."""
    RetryJob.perform_later(Person(500), 5)
    assert BUFFER.values == ["Raised DeserializationError for the 5 time"]


def test_successfully_retry_job_throwing_unlimited_retry_error_a_few_times() -> None:
    """Rails: "successfully retry job throwing UnlimitedRetryError a few times"."""
    RetryJob.perform_later("UnlimitedRetryError", 10)
    assert len(BUFFER.values) == 10
    assert BUFFER.values[8] == "Raised UnlimitedRetryError for the 9th time"
    assert BUFFER.values[9] == "Successfully completed job"


def test_retrying_a_job_when_before_enqueue_raised_uses_the_same_job_object() -> None:
    """Rails: "retrying a job when before_enqueue raised uses the same job object"."""
    job = RetriesJob()
    assert job.enqueue() is job


def test_retrying_a_job_reports_error_when_report_true(
    aj_reported: list[tuple[BaseException, dict[str, Any]]],
) -> None:
    """Rails: "retrying a job reports error when report: true" (rails/rails#54541)."""
    RetryJob.perform_later("ReportedError", 2)
    [(error, details)] = aj_reported
    assert isinstance(error, jobs.ReportedError)
    assert details["handled"] is True
    assert details["job"].job_name == RetryJob.job_name


def test_report_true_reports_each_scheduled_retry_and_not_the_exhaustion(
    aj_reported: list[tuple[BaseException, dict[str, Any]]],
) -> None:
    """Rails (activejob-spec §1.1): ``report:`` reports when a retry is scheduled, not on
    exhaustion: 5 attempts = 4 retries = 4 reports, then the error escapes unreported."""
    with pytest.raises(jobs.ReportedError):
        RetryJob.perform_later("ReportedError", 6)
    assert len(BUFFER.values) == 5
    assert len(aj_reported) == 4


def test_discarding_a_job_reports_error_when_report_true(
    aj_reported: list[tuple[BaseException, dict[str, Any]]],
) -> None:
    """Rails: "discarding a job reports error when report: true"."""
    AfterDiscardRetryJob.perform_later("AfterDiscardRetryJob.ReportedError", 2)
    [(error, _)] = aj_reported
    assert isinstance(error, AfterDiscardRetryJob.ReportedError)


def test_after_discard_runs_when_an_unhandled_error_is_raised() -> None:
    """Rails: "#after_discard block is run when an unhandled error is raised"."""
    with pytest.raises(AfterDiscardRetryJob.UnhandledError):
        AfterDiscardRetryJob.perform_later("AfterDiscardRetryJob.UnhandledError", 2)
    assert BUFFER.values[-1] == (
        "Ran after_discard for job. Message: AfterDiscardRetryJob.UnhandledError"
    )


def test_after_discard_runs_when_retry_on_is_passed_a_block() -> None:
    """Rails: "#after_discard block is run when #retry_on is passed a block"."""
    AfterDiscardRetryJob.perform_later("AfterDiscardRetryJob.CustomCatchError", 6)
    assert BUFFER.values[-2:] == [
        "Dealt with a job that failed to retry in a custom way after 6 attempts. "
        "Message: AfterDiscardRetryJob.CustomCatchError",
        "Ran after_discard for job. Message: AfterDiscardRetryJob.CustomCatchError",
    ]


def test_after_discard_runs_once_when_error_and_superclass_have_separate_retry_on() -> None:
    """Rails: "#after_discard block is only run once when an error class and its superclass are
    handled by separate #retry_on calls"."""
    with pytest.raises(AfterDiscardRetryJob.ChildAfterDiscardError):
        AfterDiscardRetryJob.perform_later("AfterDiscardRetryJob.ChildAfterDiscardError", 6)
    assert BUFFER.values[-2:] == [
        "Raised AfterDiscardRetryJob.ChildAfterDiscardError for the 5th time",
        "Ran after_discard for job. Message: AfterDiscardRetryJob.ChildAfterDiscardError",
    ]
    assert sum("Ran after_discard" in v for v in BUFFER.values) == 1


def test_after_discard_runs_when_discarded_via_discard_on() -> None:
    """Rails: "#after_discard is run when a job is discarded via #discard_on"."""
    AfterDiscardRetryJob.perform_later("AfterDiscardRetryJob.DiscardableError", 2)
    assert BUFFER.values[-1] == (
        "Ran after_discard for job. Message: AfterDiscardRetryJob.DiscardableError"
    )


def test_after_discard_runs_after_the_discard_on_block() -> None:
    """Rails: "#after_discard is run when a job is discarded via #discard_on with a block passed
    to #discard_on"."""
    AfterDiscardRetryJob.perform_later("AfterDiscardRetryJob.CustomDiscardableError", 2)
    assert BUFFER.values[-2:] == [
        "Dealt with a job that was discarded in a custom way. "
        "Message: AfterDiscardRetryJob.CustomDiscardableError",
        "Ran after_discard for job. Message: AfterDiscardRetryJob.CustomDiscardableError",
    ]


def test_retry_on_rejects_an_unsupported_wait_when_the_class_body_runs() -> None:
    """Rails: "retry_on raises ArgumentError for an unsupported wait type" (rails/rails#57727:
    8.1 failed only at retry time, replacing the real error)."""
    with pytest.raises(ConfigurationError, match="wait='soon' is not a supported wait"):

        class SoonJob(ApplicationJob):
            retry_on(Exception, wait="soon")

            def perform(self) -> None: ...


def test_retry_on_accepts_all_supported_wait_types() -> None:
    """Rails: "retry_on accepts all supported wait types"."""
    from datetime import timedelta

    from activejob_celery import (
        EXPONENTIALLY_LONGER,
        POLYNOMIALLY_LONGER,
        Exponential,
        Polynomial,
    )

    class EveryWaitJob(ApplicationJob):
        retry_on(Exception, wait=5)
        retry_on(Exception, wait=2.5)
        retry_on(Exception, wait=timedelta(minutes=5))
        retry_on(Exception, wait=POLYNOMIALLY_LONGER)
        retry_on(Exception, wait=EXPONENTIALLY_LONGER)
        retry_on(Exception, wait=Exponential(base=1, factor=3, max_wait=60))
        retry_on(Exception, wait=Polynomial(exponent=2, offset=1))
        retry_on(Exception, wait=lambda executions: executions * 2)
        retry_on(Exception, wait=lambda executions, error: executions)

        def perform(self) -> None: ...

    assert len(EveryWaitJob._rescue_handlers) == 9
