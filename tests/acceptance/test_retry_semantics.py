"""Counters, the retry payload, return values and log lines of retry_on / discard_on.

activejob-spec.md §1.2 (counters), §1.4 (retry path), §5.3 (return values), §5.6 (retry_job),
§8.2 (log lines), and the pain points of §12 the design says are fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from activejob_celery import (
    Abort,
    ApplicationJob,
    DeserializationError,
    EnqueueError,
    before_perform,
    discard_on,
    queue_with_priority,
    rescue_from,
    retry_on,
)
from activejob_celery.global_id import GlobalID, add_locator, remove_locator
from activejob_celery.testing import TestAdapter


class Flaky(TimeoutError): ...


class Permanent(Exception): ...


class Other(Exception): ...


class CountingJob(ApplicationJob):
    """Raises the errors named in its first argument, one per run, mutating that list."""

    retry_on(TimeoutError, wait=3, jitter=0)
    retry_on(ConnectionError, Other, wait=3, jitter=0, attempts=3)
    retry_on(Permanent, wait=3, jitter=0, attempts=2, queue="low", priority=7)
    queue_with_priority(1)

    def perform(self, errors: list[str], note: str = "") -> str:
        if errors:
            name = errors.pop(0)
            raise {"timeout": Flaky, "connection": ConnectionError, "other": Other,
                   "permanent": Permanent}[name](name)  # fmt: skip
        return f"done after {self.executions}"


class LoggedJob(ApplicationJob):
    retry_on(TimeoutError, wait=3, jitter=0, attempts=2)
    discard_on(KeyError)

    def perform(self, error: str) -> None:
        raise {"timeout": TimeoutError("slow"), "key": KeyError("k")}[error]


@pytest.fixture(autouse=True)
def aj_adapter(aj_recording_adapter: TestAdapter, monkeypatch: pytest.MonkeyPatch) -> TestAdapter:
    for job_class in (CountingJob, LoggedJob):
        monkeypatch.setattr(job_class, "queue_adapter", aj_recording_adapter)
    return aj_recording_adapter


def _next(adapter: TestAdapter) -> dict[str, Any]:
    record = adapter.enqueued_jobs.pop(0)
    return {key: value for key, value in record.items() if key not in {"job", "args", "kwargs",
            "queue", "priority", "at"}} | {"priority": record["priority"]}  # fmt: skip


def test_counters_are_per_declaration_and_keyed_like_rails(aj_adapter: TestAdapter) -> None:
    """activejob-spec §1.2: one counter per retry_on, keyed by its exception list; a
    subclass of a listed error counts under the declaration that lists its parent."""
    CountingJob.perform_now(["timeout", "connection", "other", "timeout"])
    results = [_next(aj_adapter)]
    for _ in range(3):
        ApplicationJob.execute(results[-1])  # type: ignore[arg-type]
        results.append(_next(aj_adapter))
    assert [r["exception_executions"] for r in results] == [
        {"[TimeoutError]": 1},
        {"[TimeoutError]": 1, f"[ConnectionError, {__name__}.Other]": 1},
        {"[TimeoutError]": 1, f"[ConnectionError, {__name__}.Other]": 2},
        {"[TimeoutError]": 2, f"[ConnectionError, {__name__}.Other]": 2},
    ]
    assert [r["executions"] for r in results] == [1, 2, 3, 4]
    assert ApplicationJob.execute(results[-1]) == "done after 5"  # type: ignore[arg-type]


def test_identical_exception_lists_share_one_counter(aj_adapter: TestAdapter) -> None:
    """activejob-spec §1.2 consequence 2: two declarations with the same list share a key, so a
    subclass redeclaring ``retry_on(TimeoutError)`` continues the parent's count."""

    class ParentJob(ApplicationJob, abstract=True):
        queue_adapter = aj_adapter
        retry_on(TimeoutError, attempts=10, jitter=0)

    class ChildJob(ParentJob):
        retry_on(TimeoutError, attempts=3, jitter=0)

        def perform(self) -> None:
            raise TimeoutError

    assert {h.key for h in ChildJob._rescue_handlers} == {"[TimeoutError]"}
    ChildJob.perform_now()
    ApplicationJob.execute(_next(aj_adapter))  # type: ignore[arg-type]
    payload = _next(aj_adapter)
    assert payload["exception_executions"] == {"[TimeoutError]": 2}
    with pytest.raises(TimeoutError):  # the child's attempts=3 is the budget in force
        ApplicationJob.execute(payload)  # type: ignore[arg-type]


def test_executions_count_before_arguments_are_decoded(aj_adapter: TestAdapter) -> None:
    """activejob-spec §0 step a/b: ``executions += 1`` happens before argument decoding, so a
    DeserializationError is rescuable and the failed run is counted."""
    seen: list[tuple[int, str]] = []

    class Gone:
        def to_global_id(self) -> GlobalID:
            return GlobalID("aj-gone", "Gone", 7)

    class DecodeJob(ApplicationJob):
        queue_adapter = aj_adapter

        @rescue_from(DeserializationError)
        def undecodable(self, error: DeserializationError) -> None:
            seen.append((self.executions, type(error.__cause__).__name__))

        def perform(self, record: Any) -> None: ...

    add_locator("aj-gone", lambda gid: None)
    try:
        payload = DecodeJob(Gone()).serialize()
        returned = ApplicationJob.execute(payload)
    finally:
        remove_locator("aj-gone")
    assert isinstance(returned, DeserializationError)
    assert seen == [(1, "LookupError")]


def test_retry_reserializes_current_arguments_with_the_same_job_id(
    aj_adapter: TestAdapter, aj_frozen_clock: datetime
) -> None:
    """activejob-spec §1.4: the retry is a new enqueue of the same job: same ``job_id``, current
    (mutated) arguments, counters carried, a new provider id, ``scheduled_at = now + delay``."""
    job = CountingJob(["timeout", "timeout"], note="n")
    job.provider_job_id = "first-run"
    job.perform_now()
    payload = _next(aj_adapter)
    assert payload["job_id"] == job.job_id
    assert payload["provider_job_id"] not in (None, "first-run")
    assert payload["arguments"] == [["timeout"], {"note": "n", "_aj_kwargs": ["note"]}]
    assert payload["executions"] == 1
    assert payload["scheduled_at"] == "2026-03-14T15:09:29.000000Z"  # frozen now + 3 s


def test_retry_onto_queue_and_priority_leaves_the_running_job_alone(
    aj_adapter: TestAdapter, aj_log: Callable[[], list[str]]
) -> None:
    """rails/rails#54444 / #54447 / #55141: ``retry_on(..., queue:, priority:)`` used to move the
    running job too (wrong queue in its perform log line); only the new enqueue changes."""
    job = CountingJob(["permanent"])
    job.perform_now()
    assert (job.queue_name, job.priority, job.scheduled_at) == ("default", 1, None)
    record = aj_adapter.enqueued_jobs[0]
    assert (record["queue_name"], record["priority"]) == ("low", 7)
    assert record["queue"] == "low"
    lines = aj_log()
    assert lines[-1].startswith(f"Performed CountingJob (Job ID: {job.job_id}) from Test(default)")
    assert any(line.startswith("Enqueued CountingJob") and "Test(low)" in line for line in lines)


def test_retry_job_verb_with_wait_until_queue_and_priority(aj_adapter: TestAdapter) -> None:
    """activejob-spec §5.6: ``retry_job`` is callable from any handler with ``wait_until``,
    ``queue`` and ``priority``; the job itself keeps its options."""
    when = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    class LaterJob(ApplicationJob):
        queue_adapter = aj_adapter

        @rescue_from(LookupError)
        def later(self, error: Exception) -> None:
            assert self.retry_job(wait_until=when, queue="slow", priority=9, error=error) is self

        def perform(self) -> None:
            raise LookupError("quota")

    job = LaterJob()
    job.perform_now()
    [record] = aj_adapter.enqueued_jobs
    assert (record["at"], record["queue_name"], record["priority"]) == (when.timestamp(), "slow", 9)
    assert (job.queue_name, job.priority, job.scheduled_at) == ("default", None, None)


def test_a_retry_the_broker_refuses_fails_the_run_instead_of_dropping_the_job(
    aj_log: Callable[[], list[str]],
) -> None:
    """activejob-spec §1.4, deliberately changed: Rails drops a job whose re-enqueue fails with
    EnqueueError (only a "Failed enqueuing" line). Here the original error is raised again, so the
    Celery task fails and the dead-letter store keeps the job (docs/rails-mapping.md)."""

    class RefusingAdapter(TestAdapter):
        def enqueue_at(self, job: ApplicationJob, timestamp: float) -> None:
            raise EnqueueError("broker down")

    class RefusedJob(ApplicationJob):
        queue_adapter = RefusingAdapter()
        retry_on(TimeoutError, jitter=0)

        def perform(self) -> None:
            raise TimeoutError("slow")

    job = RefusedJob()
    with pytest.raises(TimeoutError, match="slow"):
        job.perform_now()
    assert job.failure_reason == "unhandled"
    assert any(
        line.startswith("Failed enqueuing ")
        and "RefusedJob to Test(default): EnqueueError (broker down)" in line
        for line in aj_log()
    ), aj_log()


def test_perform_now_return_values(aj_adapter: TestAdapter) -> None:
    """activejob-spec §5.3: perform's value; the handled exception object; False when halted."""

    class ReturnJob(ApplicationJob):
        queue_adapter = aj_adapter
        discard_on(KeyError)

        @before_perform
        def maybe_halt(self) -> None:
            if self.arguments == ["halt"]:
                raise Abort

        def perform(self, what: str) -> Any:
            if what == "raise":
                raise KeyError("gone")
            return 123

    assert ReturnJob.perform_now("value") == 123
    handled = ReturnJob.perform_now("raise")
    assert isinstance(handled, KeyError) and handled.args == ("gone",)
    assert ReturnJob.perform_now("halt") is False


def test_retry_log_lines_in_rails_order(
    aj_adapter: TestAdapter, aj_frozen_clock: datetime, aj_log: Callable[[], list[str]]
) -> None:
    """activejob-spec §8.2: a retried run logs Performing -> Enqueued ... at -> Retrying ->
    Performed; "attempts" is the global ``executions``."""
    job = LoggedJob("timeout")
    job.perform_now()
    jid = job.job_id
    assert aj_log() == [
        f"Performing LoggedJob (Job ID: {jid}) from Test(default) with arguments: 'timeout'",
        f"Enqueued LoggedJob (Job ID: {jid}) to Test(default) at 2026-03-14 15:09:29 UTC "
        "with arguments: 'timeout'",
        f"Retrying LoggedJob (Job ID: {jid}) after 1 attempts in 3 seconds, due to a "
        "TimeoutError (slow).",
        aj_log()[-1],
    ]
    assert aj_log()[-1].startswith(f"Performed LoggedJob (Job ID: {jid}) from Test(default) in ")


def test_retry_stopped_log_lines(aj_adapter: TestAdapter, aj_log: Callable[[], list[str]]) -> None:
    """activejob-spec §8.2: exhausted without a block logs Performing -> Stopped retrying ->
    Error performing."""
    job = LoggedJob("timeout")
    job.executions = 1
    job.exception_executions = {"[TimeoutError]": 1}
    with pytest.raises(TimeoutError):
        job.perform_now()
    lines = aj_log()
    assert lines[1] == (
        f"Stopped retrying LoggedJob (Job ID: {job.job_id}) due to a TimeoutError (slow), "
        "which reoccurred on 2 attempts."
    )
    assert lines[2].startswith(f"Error performing LoggedJob (Job ID: {job.job_id}) from Test(")
    assert lines[2].endswith(": TimeoutError (slow):")
    assert len(lines) == 3


def test_discard_log_lines(aj_adapter: TestAdapter, aj_log: Callable[[], list[str]]) -> None:
    """activejob-spec §8.2: a discard logs Performing -> Discarded -> Performed."""
    job = LoggedJob("key")
    job.perform_now()
    lines = aj_log()
    assert lines[1] == f"Discarded LoggedJob (Job ID: {job.job_id}) due to a KeyError ('k')."
    assert lines[2].startswith(f"Performed LoggedJob (Job ID: {job.job_id})")
    assert len(lines) == 3


def test_retry_signals_carry_the_error_and_wait(
    aj_adapter: TestAdapter, aj_frozen_clock: datetime
) -> None:
    """activejob-spec §1.6: ``enqueue_retry`` (error, wait) wraps the nested ``enqueue_at``."""
    from activejob_celery import signals

    events: list[tuple[str, Any]] = []

    def on_retry(sender: Any, **kw: Any) -> None:
        events.append(("enqueue_retry", (type(kw["error"]).__name__, kw["wait"])))

    def on_enqueue_at(sender: Any, **kw: Any) -> None:
        events.append(("enqueue_at", kw["job"].scheduled_at - aj_frozen_clock))

    signals.enqueue_retry.connect(on_retry, weak=False)
    signals.enqueue_at.connect(on_enqueue_at, weak=False)
    try:
        LoggedJob.perform_now("timeout")
    finally:
        signals.enqueue_retry.disconnect(on_retry)
        signals.enqueue_at.disconnect(on_enqueue_at)
    assert events == [
        ("enqueue_at", timedelta(seconds=3)),
        ("enqueue_retry", ("TimeoutError", 3.0)),
    ]
