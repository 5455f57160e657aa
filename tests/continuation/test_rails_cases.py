"""Rails' ``continuation_test.rb`` cases (wave2-spec.md §1.8, 1-30), one test each."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from activejob_celery import (
    ApplicationJob,
    Continuable,
    InvalidStepError,
    ResumeLimitError,
    UnadvanceableCursorError,
    discard_on,
    retry_on,
)
from activejob_celery.testing import (
    TestAdapter,
    interrupt_job_after_step,
    interrupt_job_during_step,
    perform_enqueued_jobs,
)
from tests.continuation import jobs
from tests.continuation.jobs import Records

ALL_NEW = [f"new_item_{i}" for i in jobs.IDS]
JOB_ID = "[0-9a-f-]{36}"


def enqueued(adapter: TestAdapter, job_class: type) -> list[dict[str, Any]]:
    return [record for record in adapter.enqueued_jobs if record["job"] is job_class]


def test_iterates(adapter: TestAdapter) -> None:
    Records.reset()
    jobs.IteratingJob.perform_later()
    perform_enqueued_jobs()
    assert enqueued(adapter, jobs.IteratingJob) == []
    assert Records.names() == ALL_NEW


def test_iterates_and_continues(adapter: TestAdapter) -> None:
    Records.reset()
    jobs.IteratingJob.perform_later()
    with interrupt_job_during_step(jobs.IteratingJob, "rename", cursor=433):
        perform_enqueued_jobs()
    assert len(enqueued(adapter, jobs.IteratingJob)) == 1
    record = adapter.enqueued_jobs[0]
    assert record["continuation"] == {"completed": [], "current": ["rename", 433]}
    assert record["resumptions"] == 0
    assert Records.names() == [
        "new_item_123", "new_item_432", "item_6565", "item_3243",
        "new_item_234", "new_item_13", "new_item_22",
    ]  # fmt: skip
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert Records.names() == ALL_NEW


def test_linear_steps(adapter: TestAdapter) -> None:
    jobs.LinearJob.items = []
    jobs.LinearJob.perform_later()
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.LinearJob.items == ["item1", "item2", "item3", "item4"]


def test_linear_steps_continue_from_last_point(adapter: TestAdapter) -> None:
    jobs.LinearJob.items = []
    jobs.LinearJob.perform_later()
    with interrupt_job_after_step(jobs.LinearJob, "step_one"):
        perform_enqueued_jobs()
    assert len(adapter.enqueued_jobs) == 1
    assert adapter.enqueued_jobs[0]["continuation"] == {"completed": ["step_one"]}
    assert jobs.LinearJob.items == ["item1"]
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.LinearJob.items == ["item1", "item2", "item3", "item4"]


def test_no_checkpoint_after_the_last_step(adapter: TestAdapter) -> None:
    jobs.LinearJob.items = []
    jobs.LinearJob.perform_later()
    with interrupt_job_after_step(jobs.LinearJob, "step_four"):
        perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.LinearJob.items == ["item1", "item2", "item3", "item4"]


def test_runs_with_perform_now() -> None:
    jobs.LinearJob.items = []
    jobs.LinearJob.perform_now()
    assert jobs.LinearJob.items == ["item1", "item2", "item3", "item4"]


def test_error_at_a_checkpoint_without_progress_is_raised(adapter: TestAdapter) -> None:
    jobs.DeletingJob.items = [f"item_{i}" for i in range(10)]
    jobs.DeletingJob.perform_later()

    def stopping(job: Any) -> bool:
        current = job.continuation.current
        if current is not None and current.name == "delete":
            raise RuntimeError("boom at checkpoint")
        return False

    adapter.stopping = stopping
    with pytest.raises(RuntimeError, match="boom at checkpoint"):
        perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.DeletingJob.items == [f"item_{i}" for i in range(1, 10)]


def test_interrupts_without_cursors(adapter: TestAdapter) -> None:
    jobs.DeletingJob.items = [f"item_{i}" for i in range(10)]
    jobs.DeletingJob.perform_later()
    with interrupt_job_during_step(jobs.DeletingJob, "delete"):
        perform_enqueued_jobs()
    assert len(adapter.enqueued_jobs) == 1
    assert len(jobs.DeletingJob.items) == 9
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.DeletingJob.items == []


def test_saves_progress_when_there_is_an_error(adapter: TestAdapter) -> None:
    Records.reset()
    jobs.IteratingJob.perform_later()

    def stopping(job: Any) -> bool:
        current = job.continuation.current
        if current is not None and current.cursor == 433:
            raise RuntimeError("Cursor error")
        return False

    adapter.stopping = stopping
    perform_enqueued_jobs()
    adapter.stopping = False
    assert len(adapter.enqueued_jobs) == 1
    record = adapter.enqueued_jobs[0]
    assert record["executions"] == 1
    assert record["exception_executions"] == {"Cursor error": 1}
    assert "new_item_432" in Records.names() and "item_6565" in Records.names()
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert Records.names() == ALL_NEW


def test_second_error_without_advance_propagates(adapter: TestAdapter) -> None:
    Records.reset()
    jobs.IteratingJob.perform_later(raise_when_cursor=433)
    perform_enqueued_jobs()
    assert len(adapter.enqueued_jobs) == 1
    assert adapter.enqueued_jobs[0]["executions"] == 1
    assert adapter.enqueued_jobs[0]["exception_executions"] == {"Cursor error": 1}
    with pytest.raises(RuntimeError, match="Cursor error"):
        perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []


def test_logs_interruptions_after_steps(adapter: TestAdapter, log: Any) -> None:
    jobs.LinearJob.items = []
    jobs.LinearJob.perform_later()
    with interrupt_job_after_step(jobs.LinearJob, "step_one"):
        perform_enqueued_jobs()
    first = log()
    assert "Resuming" not in first
    assert "Step 'step_one' started" in first
    assert "Step 'step_one' completed" in first
    assert re.search(
        rf"Interrupted LinearJob \(Job ID: {JOB_ID}\) after 'step_one' \(stopping\)", first
    )
    perform_enqueued_jobs()
    second = log()[len(first) :]
    assert "Step 'step_one' skipped LinearJob" in second
    assert re.search(rf"Resuming LinearJob \(Job ID: {JOB_ID}\) after 'step_one'", second)
    assert "Step 'step_two' started" in second
    assert "Step 'step_two' completed" in second


def test_logs_interruptions_during_steps(adapter: TestAdapter, log: Any) -> None:
    Records.reset()
    jobs.IteratingJob.perform_later()
    with interrupt_job_during_step(jobs.IteratingJob, "rename", cursor=433):
        perform_enqueued_jobs()
    first = log()
    assert "Resuming" not in first
    assert "Step 'rename' started" in first
    assert re.search(
        r"Step 'rename' interrupted at cursor '433' for IteratingJob .* in [\d.]+ms", first
    )
    assert re.search(
        rf"Interrupted IteratingJob \(Job ID: {JOB_ID}\) at 'rename', cursor '433' \(stopping\)",
        first,
    )
    perform_enqueued_jobs()
    second = log()[len(first) :]
    assert re.search(
        rf"Resuming IteratingJob \(Job ID: {JOB_ID}\) at 'rename', cursor '433'", second
    )
    assert "Step 'rename' resumed from cursor '433'" in second
    assert "Step 'rename' completed" in second


def test_error_in_a_step_is_logged(adapter: TestAdapter, log: Any) -> None:
    NoResumeOnErrorJob.perform_later()
    with pytest.raises(ValueError, match="boom"):
        perform_enqueued_jobs()
    assert re.search(
        r"Error during step 'two' at cursor 'None' for NoResumeOnErrorJob .* in [\d.]+ms: "
        r"ValueError \(boom\)",
        log(),
    )


@pytest.mark.parametrize(
    ("job_class", "message"),
    [
        (jobs.DuplicateStepJob, "Step 'duplicate' has already been encountered"),
        (jobs.NestedStepsJob, "Step 'inner_step' is nested inside step 'outer_step'"),
        (jobs.NonStringStepJob, "Step '7' must be a str, found 'int'"),
    ],
)
def test_invalid_steps(adapter: TestAdapter, job_class: type[ApplicationJob], message: str) -> None:
    job_class.perform_later()
    with pytest.raises(InvalidStepError) as raised:
        perform_enqueued_jobs()
    assert str(raised.value) == message


def test_unexpected_step_on_resumption(adapter: TestAdapter) -> None:
    jobs.ResumeWrongStepJob.perform_later()
    with interrupt_job_during_step(jobs.ResumeWrongStepJob, "iterating", cursor=2):
        perform_enqueued_jobs()
    with pytest.raises(InvalidStepError) as raised:
        perform_enqueued_jobs()
    assert str(raised.value) == "Step 'unexpected' found, expected to resume from 'iterating'"


def test_steps_out_of_order_on_resumption(adapter: TestAdapter) -> None:
    jobs.OutOfOrderJob.perform_later()
    with interrupt_job_after_step(jobs.OutOfOrderJob, "step_three"):
        perform_enqueued_jobs()
    with pytest.raises(InvalidStepError) as raised:
        perform_enqueued_jobs()
    assert str(raised.value) == "Step 'step_two_and_a_half' found, expected to see 'step_three'"


@pytest.mark.parametrize(("start", "from_"), [(None, None), (1.1, None), (None, 1.1)])
def test_cursor_must_be_advanceable(start: Any, from_: Any) -> None:
    with pytest.raises(UnadvanceableCursorError, match=r"Cursor class '\w+' does not implement"):
        jobs.AdvancingJob.perform_now(start, from_)


@pytest.mark.parametrize(("start", "from_"), [(1, None), (None, 1)])
def test_int_cursors_advance(start: Any, from_: Any) -> None:
    jobs.AdvancingJob.perform_now(start, from_)


def test_payload_without_continuation_runs(adapter: TestAdapter) -> None:
    jobs.DeletingJob.items = [f"item_{i}" for i in range(10)]
    jobs.DeletingJob.perform_later()
    for record in adapter.enqueued_jobs:
        del record["continuation"]
        del record["resumptions"]
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.DeletingJob.items == []


def _sub_items() -> list[list[str]]:
    return [[f"subitem_{i}_{j}" for j in range(n)] for i, n in enumerate((3, 1, 2))]


def test_nested_cursor(adapter: TestAdapter) -> None:
    jobs.NestedCursorJob.items = _sub_items()
    jobs.NestedCursorJob.perform_later()
    perform_enqueued_jobs()
    assert jobs.NestedCursorJob.items == [[f"new_{x}" for x in row] for row in _sub_items()]


def test_nested_cursor_resumes(adapter: TestAdapter) -> None:
    jobs.NestedCursorJob.items = _sub_items()
    jobs.NestedCursorJob.perform_later()
    with interrupt_job_during_step(jobs.NestedCursorJob, "updating_sub_items", cursor=[0, 2]):
        perform_enqueued_jobs()
    assert len(adapter.enqueued_jobs) == 1
    assert jobs.NestedCursorJob.items == [
        ["new_subitem_0_0", "new_subitem_0_1", "subitem_0_2"], ["subitem_1_0"],
        ["subitem_2_0", "subitem_2_1"],
    ]  # fmt: skip
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.NestedCursorJob.items == [[f"new_{x}" for x in row] for row in _sub_items()]


OBJECTS: list[Any] = ["hello", "world", 1, 1.2, None, True, False, [1, 2, 3], {"a": 1, "b": 2}]


def test_iterates_over_array_cursor(adapter: TestAdapter) -> None:
    jobs.ArrayCursorJob.items = []
    jobs.ArrayCursorJob.perform_later(OBJECTS)
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.ArrayCursorJob.items == OBJECTS


def test_interrupts_and_resumes_array_cursor(adapter: TestAdapter) -> None:
    jobs.ArrayCursorJob.items = []
    jobs.ArrayCursorJob.perform_later(OBJECTS)
    with interrupt_job_during_step(jobs.ArrayCursorJob, "iterate_objects", cursor=3):
        perform_enqueued_jobs()
    assert len(adapter.enqueued_jobs) == 1
    assert jobs.ArrayCursorJob.items == OBJECTS[:3]
    perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert jobs.ArrayCursorJob.items == OBJECTS


class LimitedJob(jobs.IteratingJob):
    max_resumptions = 2


def test_max_resumptions_interrupts(adapter: TestAdapter) -> None:
    Records.reset()
    LimitedJob.perform_later()
    adapter.stopping = True
    perform_enqueued_jobs()  # 1st run: interrupted at its first checkpoint
    perform_enqueued_jobs()  # resumption 1: interrupted again
    assert adapter.enqueued_jobs[0]["resumptions"] == 1
    with pytest.raises(ResumeLimitError, match=r"^Job was resumed a maximum of 2 times$"):
        perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []


class LimitedDiscardedJob(jobs.IteratingJob):
    max_resumptions = 2
    discard_on(ResumeLimitError)


def test_max_resumptions_after_errors_is_handled_by_discard_on(adapter: TestAdapter) -> None:
    Records.reset()
    LimitedDiscardedJob.perform_later()

    def stopping(job: Any) -> bool:
        current = job.continuation.current
        if current is not None and current.advanced:
            raise RuntimeError(f"error {job.resumptions}")
        return False

    adapter.stopping = stopping
    for _ in range(3):
        assert len(adapter.enqueued_jobs) == 1
        perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []
    assert Records.names() == [
        "new_item_123", "item_432", "item_6565", "item_3243", "item_234", "new_item_13",
        "new_item_22",
    ]  # fmt: skip


class NoResumeOnErrorJob(Continuable, ApplicationJob):
    resume_errors_after_advancing = False
    retried: ClassVar[list[str]] = []
    retry_on(TimeoutError, wait=0, attempts=2)

    def perform(self) -> None:
        self.step("one", lambda: None)
        self.step("two", self.boom)

    def boom(self) -> None:
        raise ValueError("boom")


def test_resume_errors_after_advancing_false(adapter: TestAdapter) -> None:
    NoResumeOnErrorJob.perform_later()
    with pytest.raises(ValueError, match="boom"):
        perform_enqueued_jobs()
    assert adapter.enqueued_jobs == []


class OptionsJob(jobs.LinearJob):
    resume_options: ClassVar[dict[str, Any]] = {"queue": "other", "wait": 8}


def test_resume_options(adapter: TestAdapter) -> None:
    OptionsJob.items = []
    OptionsJob.perform_later()
    before = datetime.now(timezone.utc).timestamp()
    with interrupt_job_after_step(OptionsJob, "step_two"):
        perform_enqueued_jobs()
    (record,) = adapter.enqueued_jobs
    assert record["queue_name"] == "other"
    assert before + 8 <= record["at"] <= datetime.now(timezone.utc).timestamp() + 8
    assert timedelta(seconds=record["at"] - before) < timedelta(seconds=60)


def test_default_resume_waits_5_seconds(adapter: TestAdapter) -> None:
    jobs.LinearJob.items = []
    jobs.LinearJob.perform_later()
    before = datetime.now(timezone.utc).timestamp()
    with interrupt_job_after_step(jobs.LinearJob, "step_one"):
        perform_enqueued_jobs()
    (record,) = adapter.enqueued_jobs
    assert record["queue_name"] == "default"
    assert before + 5 <= record["at"] <= datetime.now(timezone.utc).timestamp() + 5


def test_isolated_middle_step(adapter: TestAdapter, log: Any) -> None:
    jobs.IsolatedJob.items = []
    jobs.IsolatedJob.perform_later()
    perform_enqueued_jobs()
    assert jobs.IsolatedJob.items == ["item1", "item2"]
    assert "after 'step_two' (isolating)" in log()
    perform_enqueued_jobs()
    assert jobs.IsolatedJob.items == ["item1", "item2", "item3"]
    assert "after 'step_three' (isolating)" in log()
    perform_enqueued_jobs()
    assert jobs.IsolatedJob.items == ["item1", "item2", "item3", "item4"]
    assert adapter.enqueued_jobs == []


class FirstAndLastIsolatedJob(jobs.IsolatedJob):
    isolate = ("step_one", "step_four")


def test_isolated_first_and_last_steps(adapter: TestAdapter) -> None:
    FirstAndLastIsolatedJob.items = []
    FirstAndLastIsolatedJob.perform_later()
    runs = []
    while adapter.enqueued_jobs:
        perform_enqueued_jobs()
        runs.append(list(FirstAndLastIsolatedJob.items))
    assert runs == [["item1"], ["item1", "item2", "item3"], ["item1", "item2", "item3", "item4"]]


def test_stopping_callable_gets_the_job_and_a_reason(adapter: TestAdapter, log: Any) -> None:
    jobs.LinearJob.items = []
    jobs.LinearJob.perform_later()
    seen: list[Any] = []

    def stopping(job: Any) -> str:
        seen.append(job)
        return "queue_paused"

    adapter.stopping = stopping
    perform_enqueued_jobs()
    assert isinstance(seen[0], jobs.LinearJob)
    assert re.search(r"Interrupted LinearJob .* after 'step_one' \(queue_paused\)", log())
    key = "Interrupted after 'step_one' (queue_paused)"
    assert adapter.enqueued_jobs[0]["exception_executions"] == {key: 1}
