"""Released jobs on the wire and on real workers: exactly the published bytes, priorities, no
``eta`` header, on time, once."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from celery import current_task

from activejob_celery import ApplicationJob, queue_as, retry_on
from activejob_celery.adapters import named_adapter
from activejob_celery.queue_priority import celery_priority
from activejob_celery.scheduler import scheduled_set_for
from tests.integration.test_scheduler import SEP, queue_keys, queued
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for


def test_a_released_message_is_byte_for_byte_what_a_publish_pushes(aj_app, aj_redis):
    """Release the set, then publish the same task message normally: same list, same bytes
    (but for kombu's per-publish delivery tag)."""

    class SameJob(ApplicationJob):
        def perform(self, *args):
            pass

    adapter = named_adapter("celery")
    cases = [(None, "default"), (0, "default"), (3, "mail"), (9, "mail"), (42, "bulk")]
    jobs = [SameJob.set(wait=30, priority=p, queue=q).perform_later(p, q) for p, q in cases]
    for job, (priority, queue) in zip(jobs, cases, strict=True):
        assert scheduled_set_for(aj_app).run_now(job.job_id) == 1
        [(released_key, [released])] = queued(aj_redis.client, queue).items()
        for key in queue_keys(queue):
            aj_redis.client.delete(key)
        body = json.loads(base64.b64decode(released["body"]))
        payload = body[0][0]
        assert payload["job_id"] == job.job_id and payload["scheduled_at"] is not None
        adapter.send(
            SameJob.job_name,
            payload,
            task_id=job.provider_job_id,
            queue=queue,
            priority=celery_priority(priority),
            **adapter.reprs(job),
        )
        [(published_key, [published])] = queued(aj_redis.client, queue).items()
        for key in queue_keys(queue):
            aj_redis.client.delete(key)
        assert released_key == published_key
        step = celery_priority(priority)
        assert released_key == (queue if step == 0 else f"{queue}{SEP}{step}")
        assert released["headers"]["eta"] is None
        assert released["headers"]["argsrepr"] == repr((priority, queue))
        del released["properties"]["delivery_tag"], published["properties"]["delivery_tag"]
        assert released == published


def test_kombus_consumer_receives_released_jobs_exactly_as_published_priorities_included(
    aj_app, aj_redis, aj_job_buffer
):
    class RankedLaterJob(ApplicationJob):
        queue_as("ranked_later")

        def perform(self, priority):
            request = current_task.request
            aj_job_buffer.add(
                (
                    priority,
                    self.provider_job_id,
                    request.id,
                    request.eta,
                    dict(request.delivery_info),
                )
            )

    priorities = [50, 0, 5, 3, 20, 1, -1, 2, 10, 4]  # one per Redis list
    jobs = {p: RankedLaterJob.set(wait=30, priority=p).perform_later(p) for p in priorities}
    assert scheduled_set_for(aj_app).release(now=time.time() + 60).released == 10
    with run_worker(aj_app, queues=["ranked_later"]):
        wait_for(lambda: len(aj_job_buffer.values) == 10, timeout=30)
    runs = aj_job_buffer.values
    assert [run[0] for run in runs] == sorted(priorities)
    for priority, provider_job_id, task_id, eta, delivery_info in runs:
        assert provider_job_id == task_id == jobs[priority].provider_job_id
        assert eta is None
        assert delivery_info["priority"] == celery_priority(priority)
        assert delivery_info["routing_key"] == "ranked_later"
        assert delivery_info["redelivered"] in (False, None)


def test_released_jobs_honour_the_transports_global_key_prefix(aj_redis, aj_job_buffer):
    app = make_app(aj_redis.url, broker_transport_options={"global_keyprefix": "tenant:"})

    class PrefixedJob(ApplicationJob):
        def perform(self, number):
            aj_job_buffer.add(number)

    PrefixedJob.set(wait=30, priority=2).perform_later(1)
    assert scheduled_set_for(app).release(now=time.time() + 60).released == 1
    assert aj_redis.client.llen(f"tenant:default{SEP}3") == 1  # priority 2: step 3
    with run_worker(app):
        wait_for(lambda: aj_job_buffer.values == [1], timeout=15)
    app.close()


def test_delayed_jobs_and_retries_are_not_published_with_an_eta_when_enqueued(
    aj_app, aj_redis, aj_job_buffer, aj_publishes
):
    """They wait in the scheduled set; only its release may give a message an eta (the early
    release window, tests/integration/test_scheduler_early.py), never the enqueue."""

    class Flaky(Exception):
        pass

    class EtaFreeJob(ApplicationJob):
        retry_on(Flaky, wait=0.3, attempts=3, jitter=0)

        def perform(self, label):
            aj_job_buffer.add((label, self.executions))
            if label == "flaky" and self.executions < 3:
                raise Flaky

    with run_worker(aj_app):
        EtaFreeJob.set(wait=0.3).perform_later("wait")
        EtaFreeJob.set(
            wait_until=datetime.now(timezone.utc) + timedelta(seconds=0.4)
        ).perform_later("wait_until")
        EtaFreeJob.perform_later("flaky")
        wait_for(lambda: len(aj_job_buffer.values) == 5, timeout=30)
    assert sorted(aj_job_buffer.values) == [
        ("flaky", 1),
        ("flaky", 2),
        ("flaky", 3),
        ("wait", 1),
        ("wait_until", 1),
    ]
    assert len(aj_publishes) == 5
    assert [headers.get("eta") for headers in aj_publishes] == [None] * 5
    assert aj_redis.client.hlen("unacked") == 0


def test_500_jobs_spread_over_3_seconds_run_once_none_early_none_late(aj_redis, aj_quiet_logs):
    """The worker's poller (1 s, spread) releases jobs another app instance schedules, as when
    web processes enqueue and workers poll; nothing wakes it early."""
    ran: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    class SpreadJob(ApplicationJob):
        def perform(self, number):
            with lock:
                ran.append((self.job_id, self.scheduled_at.timestamp(), time.time()))

    worker_app = make_app(aj_redis.url)
    interval = 1.0
    with run_worker(worker_app):
        enqueuing_app = make_app(aj_redis.url)
        assert scheduled_set_for(enqueuing_app) is not scheduled_set_for(worker_app)
        start = time.time() + 1.0
        ids = []
        for number in range(500):
            at = datetime.fromtimestamp(start + 3.0 * number / 500, timezone.utc)
            ids.append(SpreadJob.set(wait_until=at).perform_later(number).job_id)
        wait_for(lambda: len(ran) >= 500, timeout=60, message="500 jobs to run")
        time.sleep(0.3)  # a duplicate would show up here
    assert sorted(job_id for job_id, _, _ in ran) == sorted(ids)
    assert all(count == 1 for count in Counter(job_id for job_id, _, _ in ran).values())
    lateness = sorted(done - due for _, due, done in ran)
    assert lateness[0] >= 0, f"a job ran {-lateness[0]:.3f}s early"
    p50, p99 = lateness[len(lateness) // 2], lateness[int(len(lateness) * 0.99)]
    assert lateness[-1] <= interval + 3.0, f"max {lateness[-1]:.3f}s p50 {p50:.3f}s p99 {p99:.3f}s"
    worker_app.close()
    enqueuing_app.close()


def test_retry_on_waits_in_the_scheduled_set(aj_app, aj_redis, aj_job_buffer):
    class RetriedOnce(Exception):
        pass

    class RetryJob(ApplicationJob):
        retry_on(RetriedOnce, wait=1.5, attempts=2, jitter=0)

        def perform(self):
            aj_job_buffer.add(self.executions)
            if self.executions == 1:
                raise RetriedOnce

    scheduled = scheduled_set_for(aj_app)
    with run_worker(aj_app):
        job = RetryJob.perform_later()
        waiting = wait_for(lambda: scheduled.get(job.job_id), timeout=15)
        assert waiting.executions == 1
        assert list(waiting.payload["exception_executions"].values()) == [1]
        assert queued(aj_redis.client, "default") == {}
        wait_for(lambda: aj_job_buffer.values == [1, 2], timeout=15)
    assert scheduled.count() == 0
