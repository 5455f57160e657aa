"""Envelope mode: an entry that fails to publish for its own reason does not hold back the rest."""

from __future__ import annotations

import time
from typing import Any

from activejob_celery import ApplicationJob
from activejob_celery.dead_letters import store_for
from activejob_celery.scheduler import scheduled_set_for
from tests.integration.test_scheduler import queued
from tests.integration.test_scheduler_claims import aj_other_db
from tests.support.fixtures import make_app
from tests.support.redis_server import free_port

__all__ = ["aj_other_db"]  # the second-database fixture, shared with the claim tests

broken: list[bool] = [True]


def picky_router(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any):
    if name.endswith("UnroutableJob") and broken:
        raise ValueError("no route for UnroutableJob")
    return None


def _define_jobs():
    class UnroutableJob(ApplicationJob):
        def perform(self):
            pass

    class RoutableJob(ApplicationJob):
        def perform(self, number):
            pass

    return UnroutableJob, RoutableJob


def _queued(client) -> int:
    return sum(len(messages) for messages in queued(client, "default").values())


def test_an_unpublishable_entry_becomes_a_dead_letter_and_the_rest_are_released(
    aj_redis, aj_other_db
):
    other_url, _other = aj_other_db
    broken[:] = [True]
    app = make_app(aj_redis.url, activejob_scheduler_url=other_url, task_routes=(picky_router,))
    unroutable, routable = _define_jobs()
    bad = unroutable.set(wait=1).perform_later()  # due first: it is published first
    for number in range(3):
        routable.set(wait=2).perform_later(number)
    scheduled = scheduled_set_for(app)
    assert not scheduled.direct
    result = scheduled.release(now=time.time() + 5)
    assert result.released == 3
    assert _queued(aj_redis.client) == 3
    assert scheduled.count() == 0  # nothing left to block the next pass, nothing dropped
    [letter] = store_for(app).list(reason="enqueue_failed")
    assert letter.job_id == bad.job_id and "no route" in letter.error_message
    broken.clear()  # the router is fixed: the job is retried from the store
    store_for(app).retry(letter.id)
    assert _queued(aj_redis.client) == 4
    app.close()


def test_an_entry_that_cannot_even_be_kept_stays_claimed_and_blocks_nothing(aj_redis, aj_other_db):
    other_url, _other = aj_other_db
    broken[:] = [True]
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app(
        aj_redis.url,
        activejob_scheduler_url=other_url,
        activejob_scheduler_lease=30,
        activejob_dead_letters_url=nowhere,
        task_routes=(picky_router,),
    )
    unroutable, routable = _define_jobs()
    unroutable.set(wait=1).perform_later()
    routable.set(wait=2).perform_later(1)
    scheduled = scheduled_set_for(app)
    now = time.time() + 5
    assert scheduled.release(now=now).released == 1
    assert _queued(aj_redis.client) == 1
    [kept] = scheduled.list()
    assert kept.claimed and kept.job_class.endswith("UnroutableJob")
    assert scheduled.release(now=now + 1).released == 0  # no hot loop: the lease holds it
    assert scheduled.count() == 1
    app.close()
