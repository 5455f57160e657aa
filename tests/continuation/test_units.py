"""Errors, messages, step signatures, the checkpoint guard and the worker's stopping flag."""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any, ClassVar

import pytest
from celery import Celery
from celery.signals import worker_process_init, worker_shutting_down

import activejob_celery
from activejob_celery import (
    Abort,
    ApplicationJob,
    CheckpointError,
    ConfigurationError,
    Continuable,
    ContinuationError,
    ContinuationInterrupt,
    EnqueueError,
    InvalidStepError,
    ResumeLimitError,
    UnadvanceableCursorError,
    worker_shutdown as flag,
)
from activejob_celery.adapters.celery import CeleryAdapter
from activejob_celery.continuation import add_transaction_check, remove_transaction_check
from activejob_celery.continuation.step import Step, advance_cursor
from activejob_celery.continuation.stopping import should_stop, stop_reason
from activejob_celery.testing import TestAdapter, interrupt_job_after_step, perform_enqueued_jobs


def test_errors_are_exported_and_ranked_as_in_rails() -> None:
    for error in (InvalidStepError, CheckpointError, UnadvanceableCursorError, ResumeLimitError):
        assert issubclass(error, ContinuationError)
        assert error.__name__ in activejob_celery.__all__
    assert issubclass(ContinuationError, Exception)
    assert issubclass(ContinuationInterrupt, BaseException)
    assert not issubclass(ContinuationInterrupt, Exception)  # `except Exception` lets it pass
    assert "Continuable" in activejob_celery.__all__


@pytest.mark.parametrize(
    ("value", "name"), [(None, "NoneType"), (1.5, "float"), (True, "bool"), ("a", "str")]
)
def test_only_int_cursors_advance(value: Any, name: str) -> None:
    with pytest.raises(UnadvanceableCursorError) as raised:
        advance_cursor(value)
    assert str(raised.value) == f"Cursor class '{name}' does not implement 'succ'"
    assert advance_cursor(432) == 433


def test_step_description_and_progress() -> None:
    step = Step("process", 433, job=None, resumed=True)  # type: ignore[arg-type]
    assert step.description == "at 'process', cursor '433'"
    assert not step.advanced
    step.cursor = 434
    assert step.advanced


class SignatureJob(Continuable, ApplicationJob):
    chosen: ClassVar[str] = ""
    seen: ClassVar[list[Any]] = []

    def perform(self) -> None:
        self.step("s", getattr(self, self.chosen))

    def no_args(self) -> None:
        self.seen.append("none")

    def one_arg(self, step: Any) -> None:
        self.seen.append(step.name)

    def two_args(self, step: Any, other: Any) -> None: ...

    def keyword(self, step: Any, *, flag: bool = False) -> None: ...


@pytest.mark.parametrize(
    ("method", "outcome"),
    [
        ("no_args", ["none"]),
        ("one_arg", ["s"]),
        ("two_args", "Step method 's' must accept 0 or 1 arguments"),
        ("keyword", "Step method 's' must not accept keyword arguments"),
    ],
)
def test_step_methods_take_nothing_or_the_step(method: str, outcome: Any) -> None:
    SignatureJob.chosen, SignatureJob.seen = method, []
    if isinstance(outcome, list):
        SignatureJob.perform_now()
        assert outcome == SignatureJob.seen
    else:
        with pytest.raises(TypeError, match=outcome):
            SignatureJob.perform_now()


def test_unknown_resume_options_are_refused_at_class_definition() -> None:
    with pytest.raises(
        ConfigurationError, match=r"resume_options: unknown option\(s\) \['later'\]"
    ):

        class BadOptionsJob(Continuable, ApplicationJob):
            resume_options: ClassVar[dict[str, Any]] = {"later": 5}

            def perform(self) -> None: ...


class SwallowingJob(Continuable, ApplicationJob):
    items: ClassVar[list[int]] = []

    def perform(self) -> None:
        @self.step("loop", start=0)
        def _(step: Any) -> None:
            while step.cursor < 3:
                try:
                    self.items.append(step.cursor)
                    step.advance()
                except Exception:  # job code that catches everything it can
                    self.items.append(-1)


def test_except_exception_in_job_code_does_not_swallow_the_interrupt(adapter: TestAdapter) -> None:
    SwallowingJob.items = []
    SwallowingJob.perform_later()
    adapter.stopping = True
    perform_enqueued_jobs()
    assert SwallowingJob.items == [0]
    assert adapter.enqueued_jobs[0]["continuation"]["current"] == ["loop", 1]


class TransactionJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        self.step("one", lambda step: step.checkpoint())


def test_a_checkpoint_inside_an_open_transaction_raises(adapter: TestAdapter) -> None:
    def is_open() -> bool:
        return True

    add_transaction_check(is_open)
    try:
        TransactionJob.perform_later()
        with pytest.raises(
            CheckpointError, match=r"^Cannot checkpoint job with open transactions$"
        ):
            perform_enqueued_jobs()
    finally:
        remove_transaction_check(is_open)
    TransactionJob.perform_later()
    perform_enqueued_jobs()  # closed: fine
    assert adapter.enqueued_jobs == []


def test_interrupt_helpers_require_the_test_adapter() -> None:
    with (
        pytest.raises(ConfigurationError, match="interrupt_job_after_step requires"),
        interrupt_job_after_step(TransactionJob, "one"),
    ):
        pass


def test_stop_reason_reads_the_adapter(adapter: TestAdapter) -> None:
    job = TransactionJob()
    assert stop_reason(job) is None and not should_stop(job)
    adapter.stopping = True
    assert stop_reason(job) == "stopping" and should_stop(job)
    adapter.stopping = lambda j: "queue_paused" if j is job else False
    assert stop_reason(job) == "queue_paused"
    assert stop_reason(TransactionJob()) is None


@pytest.fixture
def clear_flag() -> Any:
    flag.mark_stopping(False)
    yield
    flag.mark_stopping(False)


def _child_waits(ready: Any, seen: Any) -> None:
    ready.set()
    for _ in range(2000):  # up to ~20 s on a loaded machine
        if flag.worker_stopping():
            seen.set()
            return
        multiprocessing.Event().wait(0.01)


def test_a_forked_child_sees_the_shutdown_of_its_parent(clear_flag: Any) -> None:
    context = multiprocessing.get_context("fork")
    ready, seen = context.Event(), context.Event()
    child = context.Process(target=_child_waits, args=(ready, seen))
    child.start()
    try:
        assert ready.wait(30)
        assert not seen.is_set()
        worker_shutting_down.send(sender="w@host", sig="SIGTERM", how="Warm", exitcode=0)
        assert seen.wait(30)
    finally:
        child.join(30)


def test_the_bootstep_clears_at_start_and_sets_at_stop(clear_flag: Any) -> None:
    adapter = CeleryAdapter(app=None)  # type: ignore[arg-type]
    step = flag.StoppingFlag.__new__(flag.StoppingFlag)
    job = TransactionJob()
    job._run_task_id = "a-task-id"  # run by a worker from its message
    flag.mark_stopping()
    step.start(None)
    assert not adapter.stopping(job)
    step.stop(None)
    assert adapter.stopping(job)
    assert not adapter.stopping(TransactionJob())  # perform_now, eager: never stopping
    step.start(None)
    step.terminate(None)
    assert flag.worker_stopping()


def test_init_app_adds_the_bootstep_once() -> None:
    app = Celery("cont_units", broker="memory://", set_as_current=False)
    flag.setup(app)
    flag.setup(app)
    assert [s for s in app.steps["worker"] if s is flag.StoppingFlag] == [flag.StoppingFlag]


class RefusedJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        self.step("one", lambda: None)
        self.step("two", lambda: None)

    def retry_job(self, **options: Any) -> Any:  # the broker refuses the re-enqueue
        self.enqueue_error = EnqueueError("broker down")
        return self


def test_a_refused_re_enqueue_fails_the_run_instead_of_losing_the_job(adapter: TestAdapter) -> None:
    RefusedJob.perform_later()
    with interrupt_job_after_step(RefusedJob, "one"), pytest.raises(EnqueueError, match="down"):
        perform_enqueued_jobs()


class HaltingJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        self.step("one", lambda: None)
        raise Abort


def test_abort_after_progress_halts_and_is_not_resumed(adapter: TestAdapter) -> None:
    HaltingJob.perform_later()
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert HaltingJob().perform_now() is False


class DroppedJob(Continuable, ApplicationJob):
    def perform(self) -> None:
        self.step("one", lambda: None)
        self.step("two", lambda: None)

    def retry_job(self, **options: Any) -> Any:  # a unique duplicate holds the key: dropped
        self.successfully_enqueued = False  # as the unique check leaves it: no enqueue_error
        return False


def test_a_dropped_re_enqueue_fails_the_run_instead_of_ending_it_as_done(
    adapter: TestAdapter,
) -> None:
    DroppedJob.perform_later()
    with (
        interrupt_job_after_step(DroppedJob, "one"),
        pytest.raises(EnqueueError, match="not enqueued"),
    ):
        perform_enqueued_jobs()


def test_an_async_step_function_is_refused_clearly_instead_of_never_running() -> None:
    class AsyncStepJob(Continuable, ApplicationJob):
        def perform(self) -> None:
            self.step("fetch", self.fetch)

        async def fetch(self, step: Step) -> None:  # pragma: no cover - never called
            raise AssertionError("an async step must not be accepted")

    with pytest.raises(TypeError, match="Step method 'fetch' must be a plain function, not async"):
        AsyncStepJob().perform_now()


def test_the_solo_pools_process_init_in_the_worker_itself_gives_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Celery's solo pool sends worker_process_init in the worker's own (main) process, where the
    # flag is the one the worker writes: no "not forked" warning there.
    with caplog.at_level(logging.WARNING, logger="activejob_celery"):
        worker_process_init.send(sender="solo@host")
    assert not [r for r in caplog.records if "not forked" in r.getMessage()]
