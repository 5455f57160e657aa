"""unique(...) on a real Redis: races of concurrent enqueues, each mode, ttl, release paths."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from celery import Celery

from activejob_celery import (
    ApplicationJob,
    JobNotUniqueError,
    rescue_from,
    retry_on,
    unique,
)
from activejob_celery.concurrency import store_for_app
from activejob_celery.scheduler import scheduled_set_for
from tests.concurrency.support import Overlap
from tests.support.fixtures import JobBuffer
from tests.support.worker import run_worker, wait_for


class Flaky(Exception): ...


def _race(job_class: type[ApplicationJob], *args: Any, count: int = 20) -> int:
    """Enqueue ``count`` identical jobs from as many threads at once; how many were accepted."""
    start = threading.Barrier(count)

    def one(_: int) -> bool:
        start.wait()
        job = job_class.perform_later(*args)
        return bool(job and job.successfully_enqueued)

    with ThreadPoolExecutor(count) as pool:
        return sum(pool.map(one, range(count)))


def _holder(job_class: type[ApplicationJob], *args: Any) -> str | None:
    store = store_for_app(job_class.queue_adapter or _app[0])  # type: ignore[arg-type]
    assert store is not None and job_class._uniqueness is not None
    return store.lock_holder(job_class._uniqueness.key_for(job_class(*args)))


_app: list[Any] = []


@pytest.fixture(autouse=True)
def _remember_app(aj_app: Celery) -> Any:
    _app[:] = [aj_app]
    yield
    _app.clear()


@pytest.mark.parametrize("until", ["executed", "executing"])
def test_a_race_of_twenty_enqueues_accepts_exactly_one(aj_app: Celery, until: str) -> None:
    class ReportJob(ApplicationJob):
        unique(until=until)

        def perform(self, day: str) -> None: ...

    assert _race(ReportJob, "2026-12-07") == 1
    assert _race(ReportJob, "2026-12-08") == 1  # another key is another lock


def test_executed_frees_the_lock_when_the_job_finished(
    aj_app: Celery, aj_job_buffer: JobBuffer
) -> None:
    class DoneJob(ApplicationJob):
        unique(until="executed")

        def perform(self, n: int) -> None:
            aj_job_buffer.add(n)

    first = DoneJob.perform_later(1)
    assert first and first.successfully_enqueued
    assert _holder(DoneJob, 1) == first.job_id
    with run_worker(aj_app, pool="threads", concurrency=2):
        wait_for(lambda: aj_job_buffer.values == [1], timeout=30)
        wait_for(lambda: _holder(DoneJob, 1) is None, timeout=30)
    again = DoneJob.perform_later(1)
    assert again and again.successfully_enqueued


def test_executed_keeps_the_lock_through_retries(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class RetriedJob(ApplicationJob):
        unique(until="executed")
        retry_on(Flaky, wait=60, attempts=3)

        def perform(self, n: int) -> None:
            aj_job_buffer.add(n)
            raise Flaky("later")

    first = RetriedJob.perform_later(1)
    assert first
    with run_worker(aj_app, pool="threads", concurrency=2):
        wait_for(lambda: scheduled_set_for(aj_app).count() == 1, timeout=30)
    duplicate = RetriedJob.perform_later(1)
    assert duplicate is False or not duplicate.successfully_enqueued
    assert _holder(RetriedJob, 1) == first.job_id


def test_a_handled_error_releases_the_lock(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class HandledJob(ApplicationJob):
        unique(until="executed")
        rescue_from(Flaky, with_="note")

        def note(self, error: Exception) -> None:
            aj_job_buffer.add("handled")

        def perform(self, n: int) -> None:
            raise Flaky("handled, not retried")

    assert HandledJob.perform_later(1)
    with run_worker(aj_app, pool="threads", concurrency=2):
        wait_for(lambda: aj_job_buffer.values == ["handled"], timeout=30)
        wait_for(lambda: _holder(HandledJob, 1) is None, timeout=30)


def test_a_dead_letter_releases_the_lock(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class BrokenJob(ApplicationJob):
        unique(until="executed")

        def perform(self, n: int) -> None:
            aj_job_buffer.add(n)
            raise RuntimeError("broken for good")

    assert BrokenJob.perform_later(1)
    assert _holder(BrokenJob, 1) is not None
    with run_worker(aj_app, pool="threads", concurrency=2):
        wait_for(lambda: aj_job_buffer.values == [1], timeout=30)
        wait_for(lambda: _holder(BrokenJob, 1) is None, timeout=30)


def test_executing_accepts_a_duplicate_once_the_first_started(aj_app: Celery) -> None:
    started, finish = threading.Event(), threading.Event()

    class StartJob(ApplicationJob):
        unique(until="executing")

        def perform(self, n: int) -> None:
            started.set()
            finish.wait(30)

    assert StartJob.perform_later(1)
    duplicate = StartJob.perform_later(1)
    assert duplicate is False or not duplicate.successfully_enqueued
    with run_worker(aj_app, pool="threads", concurrency=2):
        assert started.wait(30)
        later = StartJob.perform_later(1)
        assert later and later.successfully_enqueued
        finish.set()


def test_while_executing_queues_duplicates_but_never_runs_them_together(
    aj_app: Celery, aj_redis: Any
) -> None:
    overlap = Overlap(aj_redis.url, "while")

    class SerialJob(ApplicationJob):
        unique(until="while_executing")

        def perform(self, n: int) -> None:
            with overlap:
                time.sleep(0.05)

    assert _race(SerialJob, 1, count=4) == 4  # all accepted: duplicates may queue
    assert store_for_app(aj_app) is not None and _holder(SerialJob, 1) is None  # none yet
    with run_worker(aj_app, pool="threads", concurrency=4):
        wait_for(lambda: overlap.done == 4, timeout=60)
    assert overlap.peak == 1


def test_while_executing_accepts_a_race_of_twenty(aj_app: Celery) -> None:
    class QueuedJob(ApplicationJob):
        unique(until="while_executing")

        def perform(self, n: int) -> None: ...

    assert _race(QueuedJob, 1) == 20


def test_on_conflict_raise_and_set_unique_false(aj_app: Celery) -> None:
    class StrictJob(ApplicationJob):
        unique(on_conflict="raise")

        def perform(self, n: int) -> None: ...

    assert StrictJob.perform_later(1)
    with pytest.raises(JobNotUniqueError, match="not unique"):
        StrictJob.perform_later(1)
    bypass = StrictJob.set(unique=False).perform_later(1)
    assert bypass and bypass.successfully_enqueued


def test_the_ttl_bounds_a_crashed_holder(aj_app: Celery) -> None:
    class ShortJob(ApplicationJob):
        unique(ttl=0.5)

        def perform(self, n: int) -> None: ...

    first = ShortJob.perform_later(1)
    assert first and _holder(ShortJob, 1) == first.job_id
    wait_for(lambda: _holder(ShortJob, 1) is None, timeout=30)
    again = ShortJob.perform_later(1)
    assert again and again.successfully_enqueued


def test_set_unique_false_bypasses_while_executing(
    aj_app: Celery, aj_job_buffer: JobBuffer
) -> None:
    started, finish = threading.Event(), threading.Event()

    class SoloJob(ApplicationJob):
        unique(until="while_executing", key=lambda n, tag: n)

        def perform(self, n: int, tag: str) -> None:
            if tag == "first":
                started.set()
                finish.wait(30)
            aj_job_buffer.add(tag)

    with run_worker(aj_app, pool="threads", concurrency=3):
        assert SoloJob.perform_later(1, "first")
        assert started.wait(30)
        bypass = SoloJob.set(unique=False).perform_later(1, "bypass")
        assert bypass and bypass.successfully_enqueued
        # It runs while the first still holds the run lock: not put off behind it.
        wait_for(lambda: aj_job_buffer.values == ["bypass"], timeout=30)
        finish.set()
        wait_for(lambda: aj_job_buffer.values == ["bypass", "first"], timeout=30)
    assert _holder(SoloJob, 1, "x") is None
