"""cancel(job_id) stops a running Continuable job at its next checkpoint, for good.

A real Redis and a real (in-process) worker: the job walks 1 000 items, one checkpoint per item,
and waits on a Redis key at item 10; the test cancels it there. The job stops at the next
checkpoint, is not enqueued again, and its status ends ``cancelled``.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import Celery

from activejob_celery import ApplicationJob, Continuable, cancel, job_status
from activejob_celery.continuation import Step
from tests.support.worker import run_worker, wait_for


def test_a_cancelled_continuable_job_stops_at_its_next_checkpoint_and_is_not_resumed(
    aj_app: Celery, aj_redis: Any
) -> None:
    url = aj_redis.url
    client = redis.Redis.from_url(url)

    class WalkJob(Continuable, ApplicationJob):
        def perform(self, name: str) -> None:
            self.step("walk", self.walk, start=0)

        def walk(self, step: Step) -> None:
            talk = redis.Redis.from_url(url)
            while step.cursor < 1000:
                talk.rpush("walked", step.cursor)
                if step.cursor == 10:
                    talk.set("walk:at10", "1")
                    deadline = time.monotonic() + 60
                    while talk.get("walk:go") is None and time.monotonic() < deadline:
                        time.sleep(0.05)
                    time.sleep(1.2)  # past is_cancelled's one-second cache
                step.advance()

    with run_worker(aj_app):
        job = WalkJob.perform_later("a")
        assert isinstance(job, WalkJob)
        wait_for(lambda: client.get("walk:at10") is not None, timeout=60)
        said = cancel(job.job_id)
        assert said["status_before"] == "running"
        client.set("walk:go", "1")
        ended = wait_for(
            lambda: (found := job_status(job.job_id)) and found["status"] == "cancelled" and found,
            timeout=60,
        )
        assert ended["status"] == "cancelled"
        time.sleep(1.0)  # a resume would be enqueued now, and run at once on this worker
    walked = [int(item) for item in client.lrange("walked", 0, -1)]
    assert walked == list(range(11))  # item 10 finished, the checkpoint after it stopped the job
    assert job_status(job.job_id)["status"] == "cancelled"  # type: ignore[index]
