"""Envelope mode (the set off the broker's database): publishing through Celery, leases, claims
left by a dead poller or a failing broker, unreadable entries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery import current_task

from activejob_celery import ApplicationJob, failures
from activejob_celery.scheduler import scheduled_set_for
from tests.integration.test_scheduler import queued
from tests.support.fixtures import make_app
from tests.support.redis_server import free_port
from tests.support.worker import run_worker, wait_for


@pytest.fixture
def aj_other_db(aj_redis: Any) -> Iterator[Any]:
    """A second clean database on the session server, for a scheduled set kept off the broker."""
    db = aj_redis.db % 15 + 1
    client = aj_redis.server.client(db)
    client.flushdb()
    yield aj_redis.server.url(db), client
    client.flushdb()
    client.close()


def test_through_celery_when_the_set_is_not_on_the_broker_database(
    aj_redis, aj_other_db, aj_job_buffer, aj_publishes
):
    other_url, other = aj_other_db
    app = make_app(aj_redis.url, activejob_scheduler_url=other_url)

    class ElsewhereJob(ApplicationJob):
        def perform(self, number):
            aj_job_buffer.add((number, current_task.request.delivery_info["priority"]))

    scheduled = scheduled_set_for(app)
    assert not scheduled.direct
    job = ElsewhereJob.set(wait=0.5, priority=6).perform_later(1)
    assert aj_publishes == []  # nothing is published until the job is due
    assert other.zcard("activejob:scheduled") == 1 and aj_redis.client.dbsize() == 0
    [value] = other.hvals("activejob:scheduled:entries")
    assert value.startswith(b"E")
    with run_worker(app):
        wait_for(lambda: aj_job_buffer.values == [(1, 6)], timeout=15)
    # Released within the early window: published ahead of time with the job's time as eta.
    [published] = aj_publishes
    eta = datetime.fromisoformat(published["eta"])
    assert timedelta(0) <= eta - job.scheduled_at <= timedelta(microseconds=1)
    assert other.zcard("activejob:scheduled") == other.zcard("activejob:scheduled:claims") == 0
    assert other.hlen("activejob:scheduled:entries") == 0
    app.close()


def test_an_expired_claim_is_published_by_the_next_poller(aj_redis, aj_other_db):
    other_url, other = aj_other_db
    app = make_app(aj_redis.url, activejob_scheduler_url=other_url, activejob_scheduler_lease=5)

    class ClaimedJob(ApplicationJob):
        def perform(self, number):
            pass

    for number in range(3):
        ClaimedJob.set(wait=1).perform_later(number)
    scheduled = scheduled_set_for(app)
    now = time.time() + 2
    # A poller that claims and then dies: the release script alone, never published.
    claimed = scheduled._release(
        keys=[scheduled.key, scheduled.entries_key, scheduled.claims_key],
        args=[repr(now), 100, repr(now + 5), 0, scheduled.concurrency_prefix, 0],
    )
    assert len(claimed[4:]) == 9 and other.zcard("activejob:scheduled:claims") == 3
    assert [job.claimed for job in scheduled.list()] == [True] * 3 and scheduled.count() == 3
    assert scheduled.release(now=now + 4.9).released == 0  # the lease still holds
    assert scheduled.release(now=now + 5.1).released == 3
    assert sum(len(m) for m in queued(aj_redis.client, "default").values()) == 3
    assert scheduled.count() == 0 and other.hlen("activejob:scheduled:entries") == 0
    app.close()


def test_a_failing_broker_leaves_the_claims_for_the_lease_to_recover(aj_redis, aj_other_db):
    other_url, other = aj_other_db
    conf = {"activejob_scheduler_url": other_url, "activejob_scheduler_lease": 5}
    down = make_app(f"redis://127.0.0.1:{free_port()}/1", activejob_scheduler="redis", **conf)

    class DownJob(ApplicationJob):
        def perform(self, number):
            pass

    for number in range(3):
        assert DownJob.set(wait=1).perform_later(number).successfully_enqueued
    scheduled = scheduled_set_for(down)
    assert not scheduled.direct and scheduled.count() == 3
    now = time.time() + 2
    started = time.monotonic()
    result = scheduled.release(now=now)
    assert (result.released, result.failed) == (0, 3)
    assert time.monotonic() - started < 10  # one failed publish ends the batch
    assert [job.claimed for job in scheduled.list()] == [True] * 3
    up = scheduled_set_for(make_app(aj_redis.url, **conf))
    assert up.release(now=now + 1).released == 0  # the lease still holds
    assert up.release(now=now + 5.1).released == 3
    assert sum(len(m) for m in queued(aj_redis.client, "default").values()) == 3
    assert up.count() == 0 and other.hlen("activejob:scheduled:entries") == 0
    down.close()


def test_a_malformed_entry_becomes_a_failure_and_does_not_block_the_set(aj_app, aj_redis):
    class FineJob(ApplicationJob):
        def perform(self):
            pass

    seen: list[tuple[str, str]] = []

    def recorder(payload: Any, error: BaseException, *, reason: str, job: Any) -> None:
        seen.append((reason, str(error)))

    failures.add_failure_recorder(recorder)
    try:
        FineJob.set(wait=1).perform_later()
        aj_redis.client.hset("activejob:scheduled:entries", "bad/1", b"D12:oops")
        aj_redis.client.zadd("activejob:scheduled", {"bad/1": 1.0})
        result = scheduled_set_for(aj_app).release(now=time.time() + 5)
    finally:
        failures.remove_failure_recorder(recorder)
    assert result.released == 2  # the good job pushed, the broken entry dropped
    assert seen and seen[0][0] == "malformed_message"
    assert scheduled_set_for(aj_app).count() == 0
    assert sum(len(m) for m in queued(aj_redis.client, "default").values()) == 1
