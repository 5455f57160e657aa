"""Rails' ``activejob/test/cases/callbacks_test.rb`` and the callback rules of activejob-spec §4.

One chain per event (perform, enqueue) in declaration order, inherited callbacks first; before
callbacks in order, after callbacks in reverse, an around wraps everything declared after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from activejob_celery import (
    Abort,
    ApplicationJob,
    ConfigurationError,
    EnqueueError,
    after_enqueue,
    after_perform,
    around_enqueue,
    around_perform,
    before_enqueue,
    before_perform,
    perform_all_later,
    retry_on,
)
from activejob_celery.testing import TestAdapter
from tests.acceptance.jobs import AbortBeforeEnqueueJob, CallbackJob


@pytest.fixture(autouse=True)
def aj_adapter(aj_recording_adapter: TestAdapter, monkeypatch: pytest.MonkeyPatch) -> TestAdapter:
    for job_class in (CallbackJob, AbortBeforeEnqueueJob):
        monkeypatch.setattr(job_class, "queue_adapter", aj_recording_adapter)
    return aj_recording_adapter


# --- activejob/test/cases/callbacks_test.rb -----------------------------------------------------


def test_perform_callbacks() -> None:
    """Rails: "perform callbacks"."""
    job = CallbackJob("A-JOB-ID")
    job.perform_now()
    assert job.history == [
        "CallbackJob ran before_perform",
        "CallbackJob ran around_perform_start",
        "CallbackJob ran around_perform_stop",
        "CallbackJob ran after_perform",
    ]


def test_perform_return_value(aj_adapter: TestAdapter) -> None:
    """Rails: "perform return value"."""

    class ValueJob(ApplicationJob):
        queue_adapter = aj_adapter

        def perform(self) -> int:
            return 123

    assert ValueJob.perform_now() == 123


def test_perform_around_callbacks_return_value(aj_adapter: TestAdapter) -> None:
    """Rails: "perform around_callbacks return value" (``value = block.call``): here the
    around generator receives perform's value from its ``yield``."""
    seen: list[Any] = []

    class AroundValueJob(ApplicationJob):
        queue_adapter = aj_adapter

        @around_perform
        def capture(self) -> Iterator[None]:
            value = yield
            seen.append(value)

        def perform(self) -> int:
            return 123

    assert AroundValueJob.perform_now() == 123
    assert seen == [123]


def test_enqueue_callbacks(aj_adapter: TestAdapter) -> None:
    """Rails: "enqueue callbacks"."""
    job = CallbackJob.perform_later()
    assert isinstance(job, CallbackJob)
    assert job.history == [
        "CallbackJob ran before_enqueue",
        "CallbackJob ran around_enqueue_start",
        "CallbackJob ran around_enqueue_stop",
        "CallbackJob ran after_enqueue",
    ]
    assert len(aj_adapter.enqueued_jobs) == 1


def test_enqueue_returns_false_when_before_enqueue_aborts(aj_adapter: TestAdapter) -> None:
    """Rails: "#enqueue returns false when before_enqueue aborts callback chain"; nothing is
    handed to the adapter."""
    job = AbortBeforeEnqueueJob()
    assert job.enqueue() is False
    assert job.successfully_enqueued is False
    assert aj_adapter.enqueued_jobs == []


def test_enqueue_does_not_run_after_enqueue_when_aborted() -> None:
    """Rails: "#enqueue does not run after_enqueue callbacks when previous callbacks aborted"."""
    job = AbortBeforeEnqueueJob()
    job.enqueue()
    assert job.flag is None


def test_perform_does_not_run_after_perform_when_aborted() -> None:
    """Rails: "#perform does not run after_perform callbacks when previous callbacks aborted"."""
    job = AbortBeforeEnqueueJob()
    assert job.perform_now() is False
    assert job.flag is None


def test_an_exception_in_before_enqueue_propagates() -> None:
    """``AbortBeforeEnqueueJob`` with an argument raises instead of halting (Rails' MyError)."""
    with pytest.raises(AbortBeforeEnqueueJob.MyError):
        AbortBeforeEnqueueJob("raise").enqueue()


def test_enqueue_returns_self_when_the_job_was_enqueued() -> None:
    """Rails: "#enqueue returns self when the job was enqueued"."""
    job = CallbackJob()
    assert job.enqueue() is job


# --- Ordering (activejob-spec §4.1) -------------------------------------------------------------


def test_worked_example_order(aj_adapter: TestAdapter) -> None:
    """activejob-spec §4.1: ``before a; around X; before b; after c; after d`` runs
    a -> X(pre) -> b -> perform -> d -> c -> X(post)."""
    ran: list[str] = []

    class OrderJob(ApplicationJob):
        queue_adapter = aj_adapter
        before_perform(lambda job: ran.append("a"))

        @around_perform
        def x(self) -> Iterator[None]:
            ran.append("X(pre)")
            yield
            ran.append("X(post)")

        before_perform(lambda job: ran.append("b"))
        after_perform(lambda job: ran.append("c"))
        after_perform(lambda job: ran.append("d"))

        def perform(self) -> None:
            ran.append("perform")

    OrderJob.perform_now()
    assert ran == ["a", "X(pre)", "b", "perform", "d", "c", "X(post)"]


def test_inherited_callbacks_come_first(aj_adapter: TestAdapter) -> None:
    """activejob-spec §4.1: one chain, inherited callbacks first: the parent's around wraps the
    child's callbacks, the parent's after runs after the child's."""
    ran: list[str] = []

    class ParentJob(ApplicationJob, abstract=True):
        queue_adapter = aj_adapter
        before_perform(lambda job: ran.append("parent before"))

        @around_perform
        def parent_around(self) -> Iterator[None]:
            ran.append("parent around pre")
            yield
            ran.append("parent around post")

        after_perform(lambda job: ran.append("parent after"))

    class ChildJob(ParentJob):
        before_perform(lambda job: ran.append("child before"))
        after_perform(lambda job: ran.append("child after"))

        def perform(self) -> None:
            ran.append("perform")

    ChildJob.perform_now()
    assert ran == [
        "parent before",
        "parent around pre",
        "child before",
        "perform",
        "child after",
        "parent after",
        "parent around post",
    ]


def test_enqueue_chain_follows_the_same_order(aj_adapter: TestAdapter) -> None:
    """activejob-spec §4.1: the enqueue chain orders like the perform chain; the adapter call is
    the body, so an around's post part sees the job enqueued."""
    ran: list[str] = []

    class EnqueueOrderJob(ApplicationJob):
        queue_adapter = aj_adapter
        before_enqueue(lambda job: ran.append("a"))

        @around_enqueue
        def x(self) -> Iterator[None]:
            ran.append("X(pre)")
            yield
            ran.append(f"X(post) enqueued={self.successfully_enqueued}")

        before_enqueue(lambda job: ran.append("b"))
        after_enqueue(lambda job: ran.append("c"))
        after_enqueue(lambda job: ran.append("d"))

        def perform(self) -> None: ...

    EnqueueOrderJob.perform_later()
    assert ran == ["a", "X(pre)", "b", "d", "c", "X(post) enqueued=True"]


def test_every_callback_form(aj_adapter: TestAdapter) -> None:
    """Method names (Rails ``before_perform :load``), callables ``f(job)``, decorated methods;
    an around as a method name, as a decorated generator and as a generator function."""
    ran: list[str] = []

    def around_callable(job: ApplicationJob) -> Iterator[None]:
        ran.append("callable around pre")
        yield
        ran.append("callable around post")

    class FormsJob(ApplicationJob):
        queue_adapter = aj_adapter
        before_perform("load")
        before_perform(lambda job: ran.append(f"lambda {type(job).__name__}"))
        around_perform("timed")
        around_perform(around_callable)

        @after_perform
        def notify(self) -> None:
            ran.append("decorated after")

        def load(self) -> None:
            ran.append("by name")

        def timed(self) -> Iterator[None]:
            ran.append("named around pre")
            yield
            ran.append("named around post")

        def perform(self) -> None:
            ran.append("perform")

    FormsJob.perform_now()
    assert ran == [
        "by name",
        "lambda FormsJob",
        "named around pre",
        "callable around pre",
        "perform",
        "decorated after",
        "callable around post",
        "named around post",
    ]


def test_invalid_callbacks_fail_at_class_creation() -> None:
    """Rails resolves a symbol callback lazily and fails at run time; here a missing method or
    an around that is not a generator fails when the class is created."""
    with pytest.raises(ConfigurationError, match="generator function that yields once"):

        class PlainAroundJob(ApplicationJob):
            around_perform(lambda job: None)

            def perform(self) -> None: ...

    with pytest.raises(ConfigurationError, match="has no method 'missing'"):

        class MissingJob(ApplicationJob):
            before_perform("missing")

            def perform(self) -> None: ...

    with pytest.raises(ConfigurationError, match="must be a generator method"):

        class NamedPlainAroundJob(ApplicationJob):
            around_enqueue("plain")

            def plain(self) -> None: ...

            def perform(self) -> None: ...


# --- Halting (activejob-spec §4.2) --------------------------------------------------------------


def test_abort_in_before_perform_halts_with_the_rails_line(
    aj_adapter: TestAdapter, aj_log: Callable[[], list[str]]
) -> None:
    """activejob-spec §4.2: the rest of the chain and perform are skipped, perform_now returns
    False, nothing is raised, ``executions`` still counts, and the halted line is logged."""
    ran: list[str] = []

    class HaltJob(ApplicationJob):
        queue_adapter = aj_adapter
        before_perform(lambda job: ran.append("first"))

        @before_perform
        def stop(self) -> None:
            raise Abort

        before_perform(lambda job: ran.append("skipped before"))
        after_perform(lambda job: ran.append("skipped after"))

        def perform(self) -> None:
            ran.append("perform")

    job = HaltJob()
    assert job.perform_now() is False
    assert ran == ["first"]
    assert job.executions == 1
    last = aj_log()[-1]
    assert last.startswith("Error performing ") and f"HaltJob (Job ID: {job.job_id})" in last
    assert last.endswith("ms: a before_perform callback halted the job execution")


def test_abort_in_before_enqueue_publishes_nothing(
    aj_adapter: TestAdapter, aj_log: Callable[[], list[str]]
) -> None:
    """activejob-spec §4.2: enqueue returns False, the adapter is never called, the INFO line
    "a before_enqueue callback halted the enqueuing execution." is written."""

    class NoEnqueueJob(ApplicationJob):
        queue_adapter = aj_adapter

        @before_enqueue
        def stop(self) -> None:
            raise Abort

        def perform(self) -> None: ...

    assert NoEnqueueJob.perform_later() is False
    assert aj_adapter.enqueued_jobs == []
    last = aj_log()[-1]
    assert last.startswith("Failed enqueuing ")
    assert last.endswith(
        "NoEnqueueJob to Test(default), a before_enqueue callback halted the enqueuing execution."
    )


def test_an_outer_around_finishes_when_an_inner_before_halts(aj_adapter: TestAdapter) -> None:
    """ActiveSupport callbacks: an around already running resumes after a later before halts
    (its ``yield`` gives None); after callbacks are skipped (skip_after_callbacks_if_terminated)."""
    ran: list[Any] = []

    class OuterAroundJob(ApplicationJob):
        queue_adapter = aj_adapter
        after_perform(lambda job: ran.append("after"))

        @around_perform
        def outer(self) -> Iterator[None]:
            value = yield
            ran.append(("outer post", value))

        @before_perform
        def stop(self) -> None:
            raise Abort

        def perform(self) -> str:
            return "never"

    assert OuterAroundJob.perform_now() is False
    assert ran == [("outer post", None)]


def test_abort_in_an_around_before_yield_halts(aj_adapter: TestAdapter) -> None:
    """activejob-spec §4.2 extended: ``Abort`` in an around before its ``yield`` halts like a
    before callback (after callbacks skipped, perform_now returns False)."""
    ran: list[str] = []

    class AroundAbortJob(ApplicationJob):
        queue_adapter = aj_adapter
        after_perform(lambda job: ran.append("after"))

        @around_perform
        def guard(self) -> Iterator[None]:
            raise Abort
            yield

        def perform(self) -> None:
            ran.append("perform")

    assert AroundAbortJob.perform_now() is False
    assert ran == []


def test_an_around_that_does_not_yield_skips_the_body(
    aj_adapter: TestAdapter, aj_log: Callable[[], list[str]]
) -> None:
    """activejob-spec §4.2: an around callback that never yields silently skips the body:
    perform_now returns None and logs "Performed"; enqueue returns False and publishes nothing
    (Rails still logs "Enqueued ..." there; this package logs no enqueue line)."""
    ran: list[str] = []

    class SwallowJob(ApplicationJob):
        queue_adapter = aj_adapter

        @around_perform
        def skip_perform(self) -> Iterator[None]:
            ran.append("around")
            if False:
                yield

        @around_enqueue
        def skip_enqueue(self) -> Iterator[None]:
            if False:
                yield

        def perform(self) -> None:
            ran.append("perform")

    assert SwallowJob.perform_now() is None
    assert ran == ["around"]
    assert aj_log()[-1].startswith("Performed ")
    assert SwallowJob.perform_later() is False
    assert aj_adapter.enqueued_jobs == []


def test_an_around_that_yields_twice_is_an_error(aj_adapter: TestAdapter) -> None:
    """An around generator is Rails' block: it may call it once only."""

    class TwiceJob(ApplicationJob):
        queue_adapter = aj_adapter

        @around_perform
        def twice(self) -> Iterator[None]:
            yield
            yield

        def perform(self) -> None: ...

    with pytest.raises(RuntimeError, match="yielded more than once"):
        TwiceJob.perform_now()


# --- Exceptions and callbacks (activejob-spec §4.3) ---------------------------------------------


def test_an_exception_skips_after_callbacks_and_the_around_post_part(
    aj_adapter: TestAdapter,
) -> None:
    """activejob-spec §4.3: remaining after callbacks and the post-yield part of arounds are
    skipped, unless the around uses try/finally."""
    ran: list[str] = []

    class FailJob(ApplicationJob):
        queue_adapter = aj_adapter
        after_perform(lambda job: ran.append("after"))

        @around_perform
        def with_finally(self) -> Iterator[None]:
            try:
                yield
            finally:
                ran.append("finally")

        @around_perform
        def plain(self) -> Iterator[None]:
            yield
            ran.append("plain post")

        def perform(self) -> None:
            raise KeyError("x")

    with pytest.raises(KeyError):
        FailJob.perform_now()
    assert ran == ["finally"]


def test_around_perform_sees_errors_that_retry_on_handles_later(aj_adapter: TestAdapter) -> None:
    """activejob-spec §4.3 (good_job #159): handlers run outside the callback chain, so an
    around_perform sees the raw error before retry_on schedules the retry."""
    seen: list[str] = []

    class TrackedJob(ApplicationJob):
        queue_adapter = aj_adapter
        retry_on(TimeoutError, jitter=0)

        @around_perform
        def track(self) -> Iterator[None]:
            try:
                yield
            except Exception as error:
                seen.append(type(error).__name__)
                raise

        def perform(self) -> None:
            raise TimeoutError

    assert isinstance(TrackedJob.perform_now(), TimeoutError)
    assert seen == ["TimeoutError"]
    assert len(aj_adapter.enqueued_jobs) == 1


def test_enqueue_error_runs_after_enqueue_with_the_failure_recorded() -> None:
    """activejob-spec §4.3: an EnqueueError is caught inside the chain, so after_enqueue runs
    with ``successfully_enqueued`` False; perform_later returns the job."""
    seen: list[tuple[bool, str]] = []

    class DownAdapter(TestAdapter):
        def enqueue(self, job: ApplicationJob) -> None:
            raise EnqueueError("down")

    class DownJob(ApplicationJob):
        queue_adapter = DownAdapter()

        @after_enqueue
        def check(self) -> None:
            seen.append((self.successfully_enqueued, str(self.enqueue_error)))

        def perform(self) -> None: ...

    job = DownJob.perform_later()
    assert isinstance(job, DownJob)
    assert seen == [(False, "down")]


def test_other_adapter_errors_propagate_and_skip_after_enqueue() -> None:
    """activejob-spec §4.3: any other exception propagates out of perform_later."""
    seen: list[str] = []

    class BrokenAdapter(TestAdapter):
        def enqueue(self, job: ApplicationJob) -> None:
            raise OSError("bug")

    class BrokenJob(ApplicationJob):
        queue_adapter = BrokenAdapter()
        after_enqueue(lambda job: seen.append("after"))

        def perform(self) -> None: ...

    with pytest.raises(OSError, match="bug"):
        BrokenJob.perform_later()
    assert seen == []


def test_enqueue_callbacks_run_again_for_every_retry(aj_adapter: TestAdapter) -> None:
    """activejob-spec §4.3: retries are ordinary enqueues."""
    seen: list[int] = []

    class RetriedJob(ApplicationJob):
        queue_adapter = aj_adapter
        retry_on(TimeoutError, jitter=0)
        before_enqueue(lambda job: seen.append(job.executions))

        def perform(self) -> None:
            raise TimeoutError

    RetriedJob.perform_later()
    ApplicationJob.execute(_payload(aj_adapter.enqueued_jobs[-1]))
    assert seen == [0, 1]


def test_perform_all_later_runs_no_enqueue_callbacks(aj_adapter: TestAdapter) -> None:
    """activejob-spec §4.3 / §5.4: ``perform_all_later`` runs no enqueue callbacks."""
    seen: list[str] = []

    class BulkJob(ApplicationJob):
        queue_adapter = aj_adapter
        before_enqueue(lambda job: seen.append("before"))
        after_enqueue(lambda job: seen.append("after"))

        def perform(self, n: int) -> None: ...

    jobs = [BulkJob(1), BulkJob(2)]
    assert perform_all_later(jobs) is None
    assert seen == []
    assert [r["args"] for r in aj_adapter.enqueued_jobs] == [[1], [2]]
    assert all(job.successfully_enqueued for job in jobs)


def _payload(record: dict[str, Any]) -> Any:
    extra = {"job", "args", "kwargs", "queue", "at"}
    return {key: value for key, value in record.items() if key not in extra}


def test_an_around_that_swallows_the_error_ends_the_job(aj_adapter: TestAdapter) -> None:
    """An around callback that catches the error and does not raise swallows it: no handler
    runs, ``perform_now`` returns None (Rails: an around that rescues)."""
    ran: list[str] = []

    class SwallowErrorJob(ApplicationJob):
        queue_adapter = aj_adapter
        retry_on(KeyError)

        @around_perform
        def swallow(self) -> Iterator[None]:
            try:
                yield
            except KeyError:
                ran.append("swallowed")

        def perform(self) -> None:
            raise KeyError("x")

    assert SwallowErrorJob.perform_now() is None
    assert ran == ["swallowed"]
    assert aj_adapter.enqueued_jobs == []


def test_abort_raised_in_perform_halts_like_a_before_callback_and_is_not_a_failure(caplog):
    """DESIGN §1: Abort is control flow; raised anywhere in the run it halts (the halted line)."""
    from activejob_celery import Abort, ApplicationJob, after_discard
    from activejob_celery.testing import TestAdapter

    discarded = []

    class AbortingJob(ApplicationJob):
        queue_adapter = TestAdapter()

        @after_discard
        def note(self, error):
            discarded.append(error)

        def perform(self):
            raise Abort

    with caplog.at_level("ERROR", logger="activejob_celery"):
        assert AbortingJob.perform_now() is False
    assert discarded == []
    assert "a before_perform callback halted the job execution" in caplog.text


def test_perform_now_works_before_init_app_like_rails():
    """Rails' perform_now needs no queue backend; the run is reported as Inline."""
    from activejob_celery import ApplicationJob, adapters

    adapters._named.pop("celery", None)

    class StandaloneJob(ApplicationJob):
        def perform(self, value):
            return value * 2

    assert StandaloneJob.perform_now(21) == 42
