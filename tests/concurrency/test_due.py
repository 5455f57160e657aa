"""A scheduled job takes its concurrency slot when it becomes due, inside the release script.

A due job whose key is full is parked among the key's blocked jobs by the same script: it never
reaches a worker's prefetch. Both kinds of scheduled entry: ready-made messages (the broker is
the scheduled set's database) and envelopes published through Celery (it is not).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.signals import task_received

from activejob_celery import ApplicationJob, limits_concurrency, retry_on, unique
from activejob_celery.cli.stats import collect_stats
from activejob_celery.concurrency import store_for_app, unblock
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.scheduler.entries import decode_value, encode_gated, ungated
from tests.integration.test_scheduler import queued
from tests.support.fixtures import JobBuffer, make_app
from tests.support.worker import run_worker, wait_for


class Flaky(Exception): ...


@pytest.fixture(params=["direct", "through_celery"])
def due_app(request: Any, aj_app: Celery, aj_redis: Any) -> Iterator[Celery]:
    if request.param == "direct":
        yield aj_app
        return
    db = aj_redis.db % 15 + 1
    other = aj_redis.server.client(db)
    other.flushdb()
    app = make_app(aj_redis.url, activejob_scheduler_url=aj_redis.server.url(db))
    assert not scheduled_set_for(app).direct
    yield app
    app.close()
    other.flushdb()
    other.close()


def _holders(app: Celery, key: str) -> list[str]:
    store = store_for_app(app)
    assert store is not None
    return [job_id for state in store.keys_in_use(key) for job_id, _ in state.holders]


def test_a_due_job_takes_its_slot_in_the_release(due_app: Celery, aj_redis: Any) -> None:
    class DueJob(ApplicationJob):
        limits_concurrency(to=1, duration=60)

        def perform(self, name: str) -> None: ...

    first = DueJob.set(wait=0.2).perform_later("first")
    assert first and first.successfully_enqueued
    assert _holders(due_app, DueJob.job_name) == []  # not ready yet
    time.sleep(0.3)
    release = scheduled_set_for(due_app).release()
    assert (release.released, release.blocked) == (1, 0)
    assert _holders(due_app, DueJob.job_name) == [first.job_id]  # taken as it became ready
    assert sum(len(m) for m in queued(aj_redis.client, "default").values()) == 1
    second = DueJob.perform_later("second")  # the slot is the due job's: this one waits
    assert second and second.successfully_enqueued
    store = store_for_app(due_app)
    assert store is not None and store.blocked_count() == 1


def test_a_due_job_over_its_limit_waits_in_redis_then_runs_by_priority(
    due_app: Celery, aj_redis: Any, aj_job_buffer: JobBuffer
) -> None:
    class FullJob(ApplicationJob):
        limits_concurrency(to=1, duration=60)

        def perform(self, name: str) -> None:
            aj_job_buffer.add(name)

    store = store_for_app(due_app)
    assert store is not None
    store.acquire(FullJob.job_name, "holder", to=1, duration=60, block=True)
    FullJob.set(wait=0.2).perform_later("late")
    FullJob.set(wait=0.2, priority=-1).perform_later("urgent")
    time.sleep(0.3)
    release = scheduled_set_for(due_app).release()
    assert (release.released, release.blocked) == (0, 2)
    assert scheduled_set_for(due_app).count() == 0 and store.blocked_count() == 2
    assert queued(aj_redis.client, "default") == {}  # nothing for a worker to prefetch
    assert collect_stats(due_app)["blocked"] == 2  # jobs stats counts them
    [state] = store.keys_in_use(FullJob.job_name)
    assert [(entry["job_class"], entry["priority"]) for entry in state.blocked] == [
        (FullJob.job_name, -1),
        (FullJob.job_name, None),
    ]
    with run_worker(due_app, pool="threads", concurrency=2):
        unblock(store, store.release(FullJob.job_name, "holder"), None, app=due_app)
        wait_for(lambda: aj_job_buffer.values == ["urgent", "late"], timeout=30)
    wait_for(lambda: store.keys_in_use() == [], timeout=30)


def test_a_retry_with_a_wait_takes_its_slot_when_due(
    aj_app: Celery, aj_job_buffer: JobBuffer
) -> None:
    class RetryingJob(ApplicationJob):
        limits_concurrency(to=1, duration=60)
        retry_on(Flaky, wait=0.5, attempts=2)

        def perform(self, name: str) -> None:
            aj_job_buffer.add((name, self.executions))
            if self.executions == 1:
                raise Flaky("again")

    store = store_for_app(aj_app)
    assert store is not None
    received: list[str] = []

    def on_received(sender: Any = None, request: Any = None, **_: Any) -> None:
        received.append(request.id)

    RetryingJob.perform_later("a")
    task_received.connect(on_received, weak=False)
    with run_worker(aj_app, pool="threads", concurrency=2):
        wait_for(lambda: scheduled_set_for(aj_app).count() == 1, timeout=30)
        # The retry waits; the run ended and freed the slot; another job takes it meanwhile.
        wait_for(lambda: _holders(aj_app, RetryingJob.job_name) == [], timeout=30)
        store.acquire(RetryingJob.job_name, "other", to=1, duration=60, block=True)
        wait_for(lambda: store.blocked_count() == 1, timeout=30)  # parked by the release
        assert aj_job_buffer.values == [("a", 1)]
        unblock(store, store.release(RetryingJob.job_name, "other"), None, app=aj_app)
        wait_for(lambda: aj_job_buffer.values == [("a", 1), ("a", 2)], timeout=30)
    task_received.disconnect(on_received)
    assert len(received) == 2  # the run and the unblocked retry: never parked by a worker


def test_gated_values_round_trip_and_reject_truncation() -> None:
    inner = b'E{"task":"t","id":"1","payload":{}}'
    gated = encode_gated({"key": "K", "job_id": "1"}, {"payload": {}}, inner)
    assert gated[:1] == b"G" and ungated(gated) == inner and ungated(inner) == inner
    assert decode_value(gated)["id"] == "1"
    with pytest.raises(ValueError):
        ungated(gated[:8])


def test_a_due_while_executing_job_stays_in_the_set_while_its_duplicate_runs(
    aj_app: Celery, aj_redis: Any
) -> None:
    class SerialJob(ApplicationJob):
        unique(until="while_executing")

        def perform(self, n: int) -> None: ...

    store = store_for_app(aj_app)
    assert store is not None and SerialJob._uniqueness is not None
    lock = SerialJob._uniqueness.key_for(SerialJob(1))
    assert store.lock(lock, "running-duplicate", 60)  # a duplicate runs
    job = SerialJob.set(wait=0.2).perform_later(1)
    bypass = SerialJob.set(wait=0.2, unique=False).perform_later(1)  # not held back
    assert job and bypass
    time.sleep(0.3)
    scheduled = scheduled_set_for(aj_app)
    release = scheduled.release()
    assert (release.released, release.put_off) == (1, 1)
    assert sum(len(m) for m in queued(aj_redis.client, "default").values()) == 1
    [waiting] = scheduled.list()
    assert waiting.job_id == job.job_id and waiting.run_at.timestamp() > time.time() + 1
    store.unlock(lock, "running-duplicate")
    release = scheduled.release(now=time.time() + 3)
    assert (release.released, release.put_off) == (1, 0)
    assert scheduled.count() == 0
