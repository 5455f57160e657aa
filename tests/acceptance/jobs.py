"""Python ports of the job classes Rails' ActiveJob test suite uses (``activejob/test/jobs``).

Each class mirrors its Ruby namesake declaration for declaration; where Ruby raises a class named
by a string (``raising.constantize``), these look the name up in a fixed table instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from activejob_celery import (
    POLYNOMIALLY_LONGER,
    UNLIMITED,
    Abort,
    ApplicationJob,
    DeserializationError,
    after_discard,
    after_enqueue,
    after_perform,
    around_enqueue,
    around_perform,
    before_enqueue,
    before_perform,
    discard_on,
    rescue_from,
    retry_on,
)
from tests.support.fixtures import JobBuffer

BUFFER = JobBuffer()
"""Rails' ``JobBuffer``: every job below appends what happened to it."""


def ordinalize(number: int) -> str:
    """ActiveSupport's ``Integer#ordinalize``: 1st, 2nd, 3rd, 4th, 11th, 22nd."""
    if 11 <= number % 100 <= 13:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


class DefaultsError(Exception): ...


class DisabledJitterError(Exception): ...


class ZeroJitterError(Exception): ...


class FirstRetryableErrorOfTwo(Exception): ...


class SecondRetryableErrorOfTwo(Exception): ...


class LongWaitError(Exception): ...


class FloatWaitError(Exception): ...


class ShortWaitTenAttemptsError(Exception): ...


class PolynomialWaitTenAttemptsError(Exception): ...


class CustomWaitTenAttemptsError(Exception): ...


class OptionalArgWaitError(Exception): ...


class CustomCatchError(Exception): ...


class DiscardableError(Exception): ...


class FirstDiscardableErrorOfTwo(Exception): ...


class SecondDiscardableErrorOfTwo(Exception): ...


class CustomDiscardableError(Exception): ...


class UnlimitedRetryError(Exception): ...


class ReportedError(Exception): ...


class HeavyError(Exception): ...


class RetryWaitIncludedInError(Exception):
    """Carries a server's Retry-After, as Rails' test error does."""

    def retry_after(self) -> int:
        return 10


ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        DefaultsError, DisabledJitterError, ZeroJitterError, FirstRetryableErrorOfTwo,
        SecondRetryableErrorOfTwo, LongWaitError, FloatWaitError, ShortWaitTenAttemptsError,
        PolynomialWaitTenAttemptsError, CustomWaitTenAttemptsError, OptionalArgWaitError,
        RetryWaitIncludedInError, CustomCatchError, DiscardableError, FirstDiscardableErrorOfTwo,
        SecondDiscardableErrorOfTwo, CustomDiscardableError, UnlimitedRetryError, ReportedError,
        HeavyError,
    )
}  # fmt: skip


def raise_named(name: str, table: dict[str, type[Exception]]) -> None:
    """Raise the class called ``name``; its message is its name, like a bare Ruby ``raise``."""
    raise table[name](name)


class RetryJob(ApplicationJob):
    """``activejob/test/jobs/retry_job.rb``."""

    retry_on(DefaultsError)
    retry_on(DisabledJitterError, jitter=None)
    retry_on(ZeroJitterError, jitter=0.0)
    retry_on(FirstRetryableErrorOfTwo, SecondRetryableErrorOfTwo, attempts=4)
    retry_on(LongWaitError, wait=timedelta(hours=1), attempts=10)
    retry_on(FloatWaitError, wait=4.5, attempts=10)
    retry_on(ShortWaitTenAttemptsError, wait=timedelta(seconds=1), attempts=10)
    retry_on(PolynomialWaitTenAttemptsError, wait=POLYNOMIALLY_LONGER, attempts=10)
    retry_on(CustomWaitTenAttemptsError, wait=lambda executions: executions * 2, attempts=10)
    retry_on(OptionalArgWaitError, wait=lambda executions=0: executions * 2, attempts=10)
    retry_on(
        RetryWaitIncludedInError,
        wait=lambda executions, error: error.retry_after() + executions,
    )

    @retry_on(CustomCatchError)
    def custom_catch(self, error: Exception) -> None:
        BUFFER.add(
            "Dealt with a job that failed to retry in a custom way after "
            f"{self.arguments[1]} attempts. Message: {error}"
        )

    @retry_on(DeserializationError)
    def deserialization_exhausted(self, error: Exception) -> None:
        BUFFER.add(f"Raised {type(error).__name__} for the {self.executions} time")

    retry_on(UnlimitedRetryError, attempts=UNLIMITED)
    retry_on(ReportedError, report=True)
    retry_on(HeavyError, queue="low")

    discard_on(DiscardableError)
    discard_on(FirstDiscardableErrorOfTwo, SecondDiscardableErrorOfTwo)

    @discard_on(CustomDiscardableError)
    def custom_discard(self, error: Exception) -> None:
        BUFFER.add(f"Dealt with a job that was discarded in a custom way. Message: {error}")

    @before_enqueue
    def log_scheduled_at(self) -> None:
        if "log_scheduled_at" in self.arguments and self.scheduled_at is not None:
            BUFFER.add(("scheduled", self.scheduled_at))

    def perform(self, raising: Any, attempts: int, *rest: Any) -> None:
        if isinstance(raising, list):
            # Mutates the argument in place: the retry re-serializes the shorter list.
            raising = raising.pop(0) if raising else None
        if raising and self.executions < attempts:
            BUFFER.add(f"Raised {raising} for the {ordinalize(self.executions)} time")
            raise_named(raising, ERRORS)
        BUFFER.add("Successfully completed job")


class AfterDiscardRetryJob(ApplicationJob):
    """``activejob/test/jobs/after_discard_retry_job.rb``."""

    class UnhandledError(Exception): ...

    class DefaultsError(Exception): ...

    class CustomCatchError(Exception): ...

    class DiscardableError(Exception): ...

    class CustomDiscardableError(Exception): ...

    class AfterDiscardError(Exception): ...

    class ChildAfterDiscardError(AfterDiscardError): ...

    class ReportedError(Exception): ...

    retry_on(DefaultsError)

    @retry_on(CustomCatchError)
    def custom_catch(self, error: Exception) -> None:
        BUFFER.add(
            "Dealt with a job that failed to retry in a custom way after "
            f"{self.arguments[1]} attempts. Message: {error}"
        )

    retry_on(AfterDiscardError)
    retry_on(ChildAfterDiscardError)

    discard_on(DiscardableError)

    @discard_on(CustomDiscardableError)
    def custom_discard(self, error: Exception) -> None:
        BUFFER.add(f"Dealt with a job that was discarded in a custom way. Message: {error}")

    discard_on(ReportedError, report=True)

    @after_discard
    def record_discard(self, error: Exception) -> None:
        BUFFER.add(f"Ran after_discard for job. Message: {error}")

    def perform(self, raising: str, attempts: int) -> None:
        if self.executions < attempts:
            BUFFER.add(f"Raised {raising} for the {ordinalize(self.executions)} time")
            raise_named(raising, AFTER_DISCARD_ERRORS)
        BUFFER.add("Successfully completed job")


AFTER_DISCARD_ERRORS: dict[str, type[Exception]] = {
    f"AfterDiscardRetryJob.{cls.__name__}": cls
    for cls in (
        AfterDiscardRetryJob.UnhandledError, AfterDiscardRetryJob.DefaultsError,
        AfterDiscardRetryJob.CustomCatchError, AfterDiscardRetryJob.DiscardableError,
        AfterDiscardRetryJob.CustomDiscardableError, AfterDiscardRetryJob.AfterDiscardError,
        AfterDiscardRetryJob.ChildAfterDiscardError, AfterDiscardRetryJob.ReportedError,
    )
}  # fmt: skip


class RescueJob(ApplicationJob):
    """``activejob/test/jobs/rescue_job.rb``."""

    class OtherError(Exception): ...

    @rescue_from(ValueError)
    def retry_differently(self) -> Any:
        BUFFER.add("rescued from ValueError")
        self.arguments[0] = "DIFFERENT!"
        job = self.retry_job()
        BUFFER.add(f"Retried job {job.arguments[0]}")  # type: ignore[union-attr]
        return job

    @rescue_from(DeserializationError)
    def undecodable(self, error: Exception) -> None:
        BUFFER.add("rescued from DeserializationError")
        BUFFER.add(f"DeserializationError original exception was {type(error.__cause__).__name__}")

    @rescue_from(ArithmeticError)
    def arithmetic(self) -> None:
        BUFFER.add("rescued from ArithmeticError")

    def perform(self, person: Any = "david") -> None:
        if person == "david":
            raise ValueError("Hair too good")
        if person == "other":
            raise RescueJob.OtherError("Bad hair")
        if person == "rafael":
            raise ZeroDivisionError("Hair is just perfect")
        BUFFER.add("performed beautifully")


class RetriesJob(ApplicationJob):
    """``activejob/test/jobs/retries_job.rb``: a retry whose first re-enqueue fails."""

    class BeforeEnqueueError(Exception): ...

    raise_before_enqueue = False

    @before_perform
    def arm(self) -> None:
        self.raise_before_enqueue = True

    @before_enqueue
    def fail_once(self) -> None:
        try:
            if self.raise_before_enqueue:
                raise RetriesJob.BeforeEnqueueError
        finally:
            self.raise_before_enqueue = False

    retry_on(BeforeEnqueueError)

    def perform(self) -> None:
        if self.executions <= 1:
            self.retry_job()


class CallbackJob(ApplicationJob):
    """``activejob/test/jobs/callback_job.rb``: one callback of every kind, as lambdas."""

    before_perform(lambda job: job.history.append("CallbackJob ran before_perform"))
    after_perform(lambda job: job.history.append("CallbackJob ran after_perform"))
    before_enqueue(lambda job: job.history.append("CallbackJob ran before_enqueue"))
    after_enqueue(lambda job: job.history.append("CallbackJob ran after_enqueue"))

    @around_perform
    def around_perform_history(self) -> Any:
        self.history.append("CallbackJob ran around_perform_start")
        yield
        self.history.append("CallbackJob ran around_perform_stop")

    @around_enqueue
    def around_enqueue_history(self) -> Any:
        self.history.append("CallbackJob ran around_enqueue_start")
        yield
        self.history.append("CallbackJob ran around_enqueue_stop")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[str] = []

    def perform(self, person: str = "david") -> None:
        pass


class AbortBeforeEnqueueJob(ApplicationJob):
    """``activejob/test/jobs/abort_before_enqueue_job.rb``."""

    class MyError(Exception): ...

    flag: str | None = None

    before_enqueue("throw_or_raise")

    @after_enqueue
    def set_enqueued_flag(self) -> None:
        self.flag = "after_enqueue"

    @before_perform
    def halt(self) -> None:
        raise Abort

    @after_perform
    def set_performed_flag(self) -> None:
        self.flag = "after_perform"

    def perform(self) -> None:
        raise RuntimeError("This should never be called")

    def throw_or_raise(self) -> None:
        if (self.arguments[0] if self.arguments else "abort") == "abort":
            raise Abort
        raise AbortBeforeEnqueueJob.MyError
