"""The after_discard matrix of activejob-spec.md §2.2 and its error semantics (§2.3), row by row.

``after_discard`` (Rails 7.1, rails/rails#48010) runs once when a job is about to be given up on:
never for a scheduled retry or an error a ``rescue_from`` handled.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from activejob_celery import (
    Abort,
    ApplicationJob,
    DeserializationError,
    after_discard,
    before_perform,
    discard_on,
    rescue_from,
    signals,
)
from activejob_celery.global_id import GlobalID, add_locator, remove_locator
from activejob_celery.testing import TestAdapter


class Boom(Exception): ...


@pytest.fixture
def aj_events() -> Iterator[list[str]]:
    """What happened, in order: after_discard runs and the signals that wrap handlers."""
    events: list[str] = []

    def on_discard(sender: Any, **kw: Any) -> None:
        events.append("discard signal")

    def on_retry_stopped(sender: Any, **kw: Any) -> None:
        events.append("retry_stopped signal")

    signals.discard.connect(on_discard, weak=False)
    signals.retry_stopped.connect(on_retry_stopped, weak=False)
    yield events
    signals.discard.disconnect(on_discard)
    signals.retry_stopped.disconnect(on_retry_stopped)


def _job_class(adapter: TestAdapter, events: list[str], **declare: Any) -> type[ApplicationJob]:
    """A job raising ``Boom`` whose after_discard records the error it got."""

    class MatrixJob(ApplicationJob):
        queue_adapter = adapter

        @after_discard
        def record(self, error: BaseException) -> None:
            events.append(f"after_discard({type(error).__name__})")

        def perform(self) -> None:
            events.append("perform")
            raise Boom("boom")

    return MatrixJob


def test_row_unhandled_error_runs_after_discard_then_reraises(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "exception with no matching handler": yes, then the original is re-raised."""
    job_class = _job_class(aj_recording_adapter, aj_events)
    job = job_class()
    with pytest.raises(Boom):
        job.perform_now()
    assert aj_events == ["perform", "after_discard(Boom)"]
    assert job.failure_reason == "unhandled"


def test_row_discard_on_runs_after_discard_after_block_inside_the_event(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "discard_on matched": yes, after the block, inside the discard event (the
    signal is sent when the event finishes, so after after_discard)."""
    job_class = _job_class(aj_recording_adapter, aj_events)
    job_class.discard_on(Boom)(lambda job, error: aj_events.append("discard block"))
    returned = job_class.perform_now()
    assert isinstance(returned, Boom)
    assert aj_events == ["perform", "discard block", "after_discard(Boom)", "discard signal"]


def test_row_scheduled_retry_does_not_run_after_discard(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "retry_on matched, retry scheduled": no."""
    job_class = _job_class(aj_recording_adapter, aj_events)
    job_class.retry_on(Boom, attempts=2)
    job_class.perform_now()
    assert aj_events == ["perform"]
    assert len(aj_recording_adapter.enqueued_jobs) == 1


def test_row_exhausted_with_block_runs_after_discard_outside_retry_stopped(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "retry_on exhausted, with block": yes, after the block, outside the
    retry_stopped event; the error is not re-raised."""
    job_class = _job_class(aj_recording_adapter, aj_events)
    job_class.retry_on(Boom, attempts=1)(lambda job, error: aj_events.append("retry block"))
    job = job_class()
    returned = job.perform_now()
    assert isinstance(returned, Boom)
    assert aj_events == ["perform", "retry block", "retry_stopped signal", "after_discard(Boom)"]
    assert job.failure_reason == "exhausted"


def test_row_exhausted_without_block_runs_after_discard_then_reraises(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "retry_on exhausted, no block": yes, then the original is re-raised."""
    job_class = _job_class(aj_recording_adapter, aj_events)
    job_class.retry_on(Boom, attempts=1)
    job = job_class()
    with pytest.raises(Boom):
        job.perform_now()
    assert aj_events == ["perform", "retry_stopped signal", "after_discard(Boom)"]
    assert job.failure_reason == "exhausted"


def test_row_rescue_from_returning_normally_does_not_run_after_discard(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "custom rescue_from handler returns normally": no (treated as handled)."""
    job_class = _job_class(aj_recording_adapter, aj_events)
    job_class.rescue_from(Boom, with_=lambda job, error: aj_events.append("rescued"))
    assert isinstance(job_class.perform_now(), Boom)
    assert aj_events == ["perform", "rescued"]


def test_row_rescue_from_raising_does_not_run_after_discard(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "custom rescue_from handler itself raises/re-raises": no."""
    job_class = _job_class(aj_recording_adapter, aj_events)

    def reraise(job: ApplicationJob, error: BaseException) -> None:
        raise error

    job_class.rescue_from(Boom, with_=reraise)
    with pytest.raises(Boom):
        job_class.perform_now()
    assert aj_events == ["perform"]


def test_row_before_perform_abort_does_not_run_after_discard(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "before_perform throw :abort": no (no exception)."""
    job_class = _job_class(aj_recording_adapter, aj_events)

    def halt(job: ApplicationJob) -> None:
        raise Abort

    job_class.before_perform(halt)
    assert job_class.perform_now() is False
    assert aj_events == []


def test_row_deserialization_error_without_handler_runs_after_discard(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """§2.2 row "DeserializationError with no handler": yes."""
    job_class = _job_class(aj_recording_adapter, aj_events)

    class Gone:
        def to_global_id(self) -> GlobalID:
            return GlobalID("aj-gone", "Gone", 1)

    add_locator("aj-gone", lambda gid: None)
    try:
        payload = job_class(Gone()).serialize()
        with pytest.raises(DeserializationError):
            job_class.execute(payload)
    finally:
        remove_locator("aj-gone")
    assert aj_events == ["after_discard(DeserializationError)"]


def test_all_after_discard_callbacks_run_and_the_last_error_is_raised(
    aj_recording_adapter: TestAdapter,
) -> None:
    """§2.3: every callback runs even if some raise; the **last** error replaces the original."""
    ran: list[str] = []

    class FirstFailure(Exception): ...

    class SecondFailure(Exception): ...

    class FailingDiscardJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        discard_on(Boom)

        @after_discard
        def one(self, error: BaseException) -> None:
            ran.append("one")
            raise FirstFailure

        @after_discard
        def two(self, error: BaseException) -> None:
            ran.append("two")

        @after_discard
        def three(self, error: BaseException) -> None:
            ran.append("three")
            raise SecondFailure

        def perform(self) -> None:
            raise Boom

    with pytest.raises(SecondFailure):
        FailingDiscardJob.perform_now()
    assert ran == ["one", "two", "three"]


def test_a_base_exception_in_after_discard_stops_the_loop(
    aj_recording_adapter: TestAdapter,
) -> None:
    """§2.3: a non-StandardError (Python: not an ``Exception``) aborts the loop at once."""
    ran: list[str] = []

    class Halt(BaseException): ...

    class HaltingDiscardJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        discard_on(Boom)
        after_discard(lambda job, error: (ran.append("one"), _raise(Halt())))
        after_discard(lambda job, error: ran.append("two"))

        def perform(self) -> None:
            raise Boom

    with pytest.raises(Halt):
        HaltingDiscardJob.perform_now()
    assert ran == ["one"]


def _raise(error: BaseException) -> None:
    raise error


def test_after_discard_order_inherited_first_and_every_form(
    aj_recording_adapter: TestAdapter,
) -> None:
    """§2.2: parent procs first, then the subclass's, each in declaration order; method name,
    callable and decorator forms all receive ``(job, error)``."""
    ran: list[str] = []

    class ParentJob(ApplicationJob, abstract=True):
        queue_adapter = aj_recording_adapter
        after_discard(lambda job, error: ran.append(f"parent callable {error}"))

    class ChildJob(ParentJob):
        discard_on(Boom)
        after_discard("by_name")

        @after_discard
        def decorated(self, error: BaseException) -> None:
            ran.append(f"child decorated {error}")

        def by_name(self, error: BaseException) -> None:
            ran.append(f"child by name {error}")

        def perform(self) -> None:
            raise Boom("x")

    ChildJob.perform_now()
    assert ran == ["parent callable x", "child by name x", "child decorated x"]


def test_after_discard_sees_the_matched_cause(aj_recording_adapter: TestAdapter) -> None:
    """A discard matched through ``__cause__`` hands after_discard the cause, as the handler."""
    seen: list[BaseException] = []

    class CauseDiscardJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        discard_on(KeyError)
        after_discard(lambda job, error: seen.append(error))

        def perform(self) -> None:
            raise RuntimeError("outer") from KeyError("inner")

    CauseDiscardJob.perform_now()
    assert [type(e) for e in seen] == [KeyError]


def test_discard_job_verb_runs_after_discard(aj_recording_adapter: TestAdapter) -> None:
    """``discard_job(error)`` from a handler logs the discard and runs after_discard once."""
    ran: list[str] = []

    class VerbJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        after_discard(lambda job, error: ran.append(f"after_discard {error}"))

        @rescue_from(Boom)
        def give_up(self, error: BaseException) -> None:
            self.discard_job(error)

        def perform(self) -> None:
            raise Boom("gone")

    job = VerbJob()
    assert isinstance(job.perform_now(), Boom)
    assert ran == ["after_discard gone"]
    assert job.failure_reason == "discarded"


def test_discard_block_receives_the_instance(aj_recording_adapter: TestAdapter) -> None:
    """rails/rails#32853: the discard_on block got the exception class instead of the job
    instance in 5.2; here the decorated method is bound to the job and gets the error object."""
    seen: list[tuple[Any, Any]] = []

    class BlockJob(ApplicationJob):
        queue_adapter = aj_recording_adapter

        @discard_on(Boom)
        def dropped(self, error: BaseException) -> None:
            seen.append((self, error))

        def perform(self) -> None:
            raise Boom("instance")

    job = BlockJob()
    job.perform_now()
    [(received_job, received_error)] = seen
    assert received_job is job
    assert isinstance(received_error, Boom) and str(received_error) == "instance"


def test_discard_block_raising_skips_after_discard_and_still_logs(
    aj_recording_adapter: TestAdapter, aj_log: Any
) -> None:
    """§2.1: if the discard block raises, after_discard is skipped, the new error escapes, and
    the "Discarded" line is still written."""
    ran: list[str] = []

    class BadBlockJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        after_discard(lambda job, error: ran.append("after_discard"))

        @discard_on(Boom)
        def dropped(self, error: BaseException) -> None:
            raise LookupError("block failed")

        def perform(self) -> None:
            raise Boom("b")

    with pytest.raises(LookupError):
        BadBlockJob.perform_now()
    assert ran == []
    assert any(
        line.startswith("Discarded ") and "BadBlockJob" in line and "LookupError" not in line
        for line in aj_log()
    )


def test_before_perform_decorator_keeps_after_discard_silent_for_halts(
    aj_recording_adapter: TestAdapter,
) -> None:
    """A halted job counts as done: after_discard does not run and nothing is raised."""
    ran: list[str] = []

    class HaltJob(ApplicationJob):
        queue_adapter = aj_recording_adapter
        after_discard(lambda job, error: ran.append("after_discard"))

        @before_perform
        def stop(self) -> None:
            raise Abort

        def perform(self) -> None:
            ran.append("perform")

    assert HaltJob.perform_now() is False
    assert ran == []


def test_discard_job_inside_an_exhausted_retry_on_block_runs_after_discard_once(
    aj_recording_adapter: TestAdapter, aj_events: list[str]
) -> None:
    """Issue 22: ``discard_job()`` called from a ``retry_on`` block gives the job up once, so
    ``after_discard`` runs once (it ran again after the block before)."""
    job_class = _job_class(aj_recording_adapter, aj_events)
    job_class.retry_on(Boom, attempts=1)(lambda job, error: job.discard_job(error))
    job = job_class()
    assert isinstance(job.perform_now(), Boom)
    assert aj_events == [
        "perform",
        "after_discard(Boom)",
        "discard signal",
        "retry_stopped signal",
    ]
    assert job.failure_reason == "discarded"
    aj_events.clear()
    job.exception_executions.clear()
    job.perform_now()  # the once-per-run guard resets for the next run of the same object
    assert aj_events.count("after_discard(Boom)") == 1
