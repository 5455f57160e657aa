"""limits_concurrency through a real Redis and in-process worker threads (concurrency > limit)."""

from __future__ import annotations

import time
from typing import Any

from celery import Celery

from activejob_celery import ApplicationJob, after_discard, limits_concurrency, signals
from activejob_celery.concurrency import Maintenance, store_for_app
from tests.concurrency.support import Overlap
from tests.support.fixtures import JobBuffer
from tests.support.worker import run_worker, wait_for


def test_at_most_to_jobs_of_a_key_run_at_once_and_all_run(aj_app: Celery, aj_redis: Any) -> None:
    overlap = Overlap(aj_redis.url, "sync")

    class SyncJob(ApplicationJob):
        limits_concurrency(to=2, key=lambda account, n: account)

        def perform(self, account: str, n: int) -> None:
            with overlap:
                time.sleep(0.02)  # gives other threads a chance to overlap, if they could

    jobs = [SyncJob.perform_later("acme", n) for n in range(20)]
    assert all(job and job.successfully_enqueued for job in jobs)
    store = store_for_app(aj_app)
    assert store is not None
    assert store.blocked_count() == 18  # waiting in Redis, not in the broker
    (state,) = store.keys_in_use()
    assert state.key == "SyncJob/acme" or state.key.endswith("/acme")
    assert len(state.holders) == 2 and state.limit == 2
    with run_worker(aj_app, pool="threads", concurrency=5):
        wait_for(lambda: overlap.done == 20, timeout=60)
    assert overlap.peak <= 2
    assert store.blocked_count() == 0
    assert store.keys_in_use() == []


def test_other_keys_are_not_blocked(aj_app: Celery) -> None:
    class KeyedJob(ApplicationJob):
        limits_concurrency(to=1, key=lambda account: account)

        def perform(self, account: str) -> None: ...

    KeyedJob.perform_later("a")
    KeyedJob.perform_later("a")
    KeyedJob.perform_later("b")
    store = store_for_app(aj_app)
    assert store is not None
    states = {state.key.rsplit("/", 1)[1]: state for state in store.keys_in_use()}
    assert [len(states["a"].blocked), len(states["b"].blocked)] == [1, 0]


def test_blocked_jobs_run_by_priority_then_age(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class OrderedJob(ApplicationJob):
        limits_concurrency(to=1)

        def perform(self, name: str) -> None:
            aj_job_buffer.add(name)

    blocked: list[str] = []

    def on_blocked(sender: Any = None, job: Any = None, **kwargs: Any) -> None:
        blocked.append(job.arguments[0])

    signals.blocked.connect(on_blocked, weak=False)
    try:
        OrderedJob.perform_later("first")
        OrderedJob.set(priority=5).perform_later("b5")
        OrderedJob.set(priority=1).perform_later("c1")
        OrderedJob.set(priority=5).perform_later("d5")
        OrderedJob.set(priority=-3).perform_later("e-3")
    finally:
        signals.blocked.disconnect(on_blocked)
    assert blocked == ["b5", "c1", "d5", "e-3"]
    with run_worker(aj_app, pool="threads", concurrency=3):
        wait_for(lambda: len(aj_job_buffer.values) == 5, timeout=30)
    assert aj_job_buffer.values == ["first", "e-3", "c1", "b5", "d5"]


def test_on_conflict_discard_runs_after_discard(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class OnlyOneJob(ApplicationJob):
        limits_concurrency(to=1, on_conflict="discard")

        @after_discard
        def note(self, error: Any) -> None:
            aj_job_buffer.add(("discarded", self.arguments[0]))

        def perform(self, n: int) -> None:
            aj_job_buffer.add(("ran", n))

    first = OnlyOneJob.perform_later(1)
    second = OnlyOneJob.perform_later(2)
    assert first and first.successfully_enqueued
    assert second is False or not second.successfully_enqueued
    assert aj_job_buffer.values == [("discarded", 2)]
    with run_worker(aj_app, pool="threads", concurrency=2):
        wait_for(lambda: ("ran", 1) in aj_job_buffer.values, timeout=30)
    third = OnlyOneJob.perform_later(3)  # the slot was freed when the first finished
    assert third and third.successfully_enqueued


def test_a_group_limits_two_classes_together(aj_app: Celery, aj_redis: Any) -> None:
    overlap = Overlap(aj_redis.url, "group")

    class ExportJob(ApplicationJob):
        limits_concurrency(to=1, group="billing")

        def perform(self, n: int) -> None:
            with overlap:
                time.sleep(0.02)

    class ImportJob(ExportJob):
        limits_concurrency(to=1, group="billing")

    for n in range(4):
        ExportJob.perform_later(n)
        ImportJob.perform_later(n)
    store = store_for_app(aj_app)
    assert store is not None and store.blocked_count() == 7
    with run_worker(aj_app, pool="threads", concurrency=4):
        wait_for(lambda: overlap.done == 8, timeout=60)
    assert overlap.peak == 1


def test_a_failing_holder_releases_its_slot(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class FailingJob(ApplicationJob):
        limits_concurrency(to=1)

        def perform(self, n: int) -> None:
            aj_job_buffer.add(n)
            if n == 1:
                raise RuntimeError("boom")

    unblocked: list[tuple[Any, Any]] = []

    def on_unblocked(sender: Any = None, job: Any = None, key: Any = None, **kw: Any) -> None:
        unblocked.append((job.serialized_arguments(), key))

    FailingJob.perform_later(1)
    FailingJob.perform_later(2)
    signals.unblocked.connect(on_unblocked, weak=False)
    try:
        with run_worker(aj_app, pool="threads", concurrency=2):
            wait_for(lambda: aj_job_buffer.values == [1, 2], timeout=30)
    finally:
        signals.unblocked.disconnect(on_unblocked)
    assert unblocked == [([2], FailingJob.job_name)]


def test_a_dead_holders_slot_frees_after_duration(aj_app: Celery, aj_job_buffer: JobBuffer) -> None:
    class GuardedJob(ApplicationJob):
        limits_concurrency(to=1, duration=1)

        def perform(self, n: int) -> None:
            aj_job_buffer.add(n)

    store = store_for_app(aj_app)
    assert store is not None
    # A holder whose worker died: it took the slot and will never release it.
    store.acquire(GuardedJob.job_name, "dead-job", to=1, duration=1, block=True)
    GuardedJob.perform_later(1)
    assert store.blocked_count() == 1
    maintenance = Maintenance(aj_app, interval=0.2)
    with run_worker(aj_app, pool="threads", concurrency=2):
        wait_for(lambda: maintenance.run_once() or aj_job_buffer.values, timeout=30)
        wait_for(lambda: aj_job_buffer.values == [1], timeout=30)


def test_perform_all_later_goes_through_the_limit(aj_app: Celery) -> None:
    from activejob_celery import perform_all_later

    class BulkJob(ApplicationJob):
        limits_concurrency(to=2)

        def perform(self, n: int) -> None: ...

    jobs = [BulkJob(n) for n in range(5)]
    perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)
    store = store_for_app(aj_app)
    assert store is not None and store.blocked_count() == 3


def test_a_scheduled_job_takes_its_slot_when_due(aj_app: Celery, aj_redis: Any) -> None:
    overlap = Overlap(aj_redis.url, "scheduled")

    class LaterJob(ApplicationJob):
        limits_concurrency(to=1)

        def perform(self, n: int) -> None:
            with overlap:
                time.sleep(0.1)

    store = store_for_app(aj_app)
    assert store is not None
    LaterJob.perform_later(0)
    for n in range(1, 4):
        LaterJob.set(wait=0.2).perform_later(n)
    assert store.blocked_count() == 0  # not ready yet: no slot taken, none blocked
    with run_worker(aj_app, pool="threads", concurrency=4):
        wait_for(lambda: overlap.done == 4, timeout=60)
    assert overlap.peak == 1


def test_an_unblocked_job_whose_publisher_died_is_published_by_maintenance(
    aj_app: Celery, aj_job_buffer: JobBuffer, monkeypatch: Any
) -> None:
    from activejob_celery.concurrency import locks

    class HandedJob(ApplicationJob):
        limits_concurrency(to=1, duration=60)

        def perform(self, n: int) -> None:
            aj_job_buffer.add(n)

    monkeypatch.setattr(locks, "HANDED_LEASE", 0.2)
    store = store_for_app(aj_app)
    assert store is not None
    store.acquire(HandedJob.job_name, "holder", to=1, duration=60, block=True)
    HandedJob.perform_later(1)
    assert store.blocked_count() == 1
    # The holder ends: the release hands the blocked job a slot, and its publisher dies before
    # publishing it (nothing below publishes what this call returned).
    [handed] = store.release(HandedJob.job_name, "holder")
    assert handed["payload"]["arguments"] == [1]
    assert store.blocked_count() == 0
    time.sleep(0.3)  # the lease runs out
    with run_worker(aj_app, pool="threads", concurrency=2):
        assert Maintenance(aj_app, interval=0.2).run_once() == 1
        wait_for(lambda: aj_job_buffer.values == [1], timeout=30)
    assert store.client.zcard(store.handed_key) == 0
    assert store.client.hlen(store.payloads_key) == 0
