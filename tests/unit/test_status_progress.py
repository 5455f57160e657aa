"""Progress throttling, outcomes of a run, and status decoding: no Redis (a recording store)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from activejob_celery import ApplicationJob, discard_on
from activejob_celery.cli.status import describe
from activejob_celery.status import store as status_store, tracking
from activejob_celery.status.tracking import RunTracker, outcome_of
from activejob_celery.testing import TestAdapter


class Recorder:
    """A stand-in for StatusStore recording every write."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.written = threading.Event()

    def progress(self, job_id: str, fields: dict[str, Any]) -> None:
        self.writes.append(("progress", dict(fields)))
        self.written.set()

    def end(self, job_id: str, status: str, fields: dict[str, Any] | None = None) -> str:
        self.writes.append((status, dict(fields or {})))
        return status


class Task:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def send_event(self, type_: str, **fields: Any) -> None:
        self.events.append((type_, fields))


class CountJob(ApplicationJob):
    def perform(self) -> None: ...


def _tracker(store: Any, task: Any = None) -> RunTracker:
    return RunTracker(store, CountJob(), task or Task())


def test_ten_thousand_progress_calls_in_a_second_make_at_most_two_writes() -> None:
    store = Recorder()
    run = _tracker(store)
    for done in range(1, 10_001):
        run.progress(done, 10_000)
    assert len(store.writes) <= 2
    assert store.writes[0] == ("progress", {"done": "1", "total": "10000"})
    assert run.end("succeeded") == "succeeded"
    status, fields = store.writes[-1]
    assert status == "succeeded" and fields["done"] == "10000"  # the last value lands at the end


def test_a_held_back_value_is_written_when_its_second_is_over(monkeypatch: Any) -> None:
    monkeypatch.setattr(tracking, "INTERVAL", 0.2)
    store, task = Recorder(), Task()
    run = _tracker(store, task)
    run.progress(1, 3, "first")
    store.written.clear()
    run.progress(2, 3, "second")  # within the interval: held back
    assert len(store.writes) == 1
    assert store.written.wait(5)
    assert store.writes[-1] == ("progress", {"done": "2", "total": "3", "message": "second"})
    assert [name for name, _ in task.events] == ["task-progress", "task-progress"]
    assert task.events[-1][1]["message"] == "second" and task.events[-1][1]["done"] == "2"
    assert run.end("succeeded") == "succeeded"
    assert store.writes[-1] == ("succeeded", {})  # nothing held back any more


def test_an_event_that_cannot_be_sent_does_not_fail_the_job() -> None:
    class Broken:
        def send_event(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("broker gone")

    store = Recorder()
    _tracker(store, Broken()).progress(1)
    assert store.writes == [("progress", {"done": "1"})]


def test_progress_outside_a_worker_is_kept_on_the_job(aj_adapter: TestAdapter) -> None:
    job = CountJob()
    job.progress(5, 10, "half")
    job.progress(6)
    assert job.progress_state == {"done": 6, "total": 10, "message": "half"}


@pytest.mark.parametrize("done, total", [("5", None), (True, None), (1, "10")])
def test_progress_refuses_what_is_not_a_number(done: Any, total: Any) -> None:
    with pytest.raises(TypeError, match="progress"):
        CountJob().progress(done, total)


class Gone(Exception): ...


def test_outcome_of_a_run() -> None:
    class GoneJob(ApplicationJob):
        discard_on(Gone)

        def perform(self) -> None: ...

    job = GoneJob()
    assert outcome_of(job, "value") == "succeeded"
    job.failure_reason = "discarded"
    assert outcome_of(job, Gone()) == "discarded"
    job.failure_reason = None
    assert outcome_of(job, Gone()) == "succeeded"  # rescue_from handled it
    job.successfully_enqueued = True
    assert outcome_of(job, Gone()) == "retrying"
    job._retried = (None,)
    assert outcome_of(job, None) == "retrying"


def test_decode_and_describe_a_status() -> None:
    found = status_store.decode(
        {
            b"status": b"running",
            b"done": b"50",
            b"total": b"200",
            b"message": b"Parsing",
            b"updated_at": b"1700000000.5",
            b"worker": b"w1@host",
        }
    )
    assert found["done"] == 50 and found["total"] == 200 and found["pct"] == 25.0
    assert found["updated_at"] == 1700000000.5
    assert status_store.decode({b"status": b"queued"})["done"] is None
    assert status_store.number("2.5") == 2.5
    lines = describe("j1", found)
    assert lines[:4] == ["Job j1: running", "Progress: 50 / 200 (25.0%)", "Message: Parsing",
                         "Worker: w1@host"]  # fmt: skip
    assert lines[-1].startswith("Updated: 2023-11-14T22:13:20.500000+00:00")
