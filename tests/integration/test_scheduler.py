"""The scheduled set on a real Redis: storage, inspection and control, settings, failures."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from activejob_celery import ApplicationJob, EnqueueError, queue_as
from activejob_celery.app import is_initialised
from activejob_celery.scheduler import ScheduledSet, scheduled_set_for
from activejob_celery.scheduler.entries import decode_direct
from activejob_celery.scheduler.poller import SchedulerPoller
from tests.integration.test_direct_proof import celerys_own_publish_functions
from tests.support.fixtures import make_app
from tests.support.redis_server import free_port
from tests.support.worker import run_worker, wait_for

SEP = "\x06\x16"


def queue_keys(queue: str) -> list[str]:
    return [queue] + [f"{queue}{SEP}{step}" for step in range(1, 10)]


def queued(client: Any, queue: str) -> dict[str, list[dict[str, Any]]]:
    """Raw messages waiting in each priority list of ``queue``."""
    found = {}
    for key in queue_keys(queue):
        raw = client.lrange(key, 0, -1)
        if raw:
            found[key] = [json.loads(item) for item in raw]
    return found


def test_a_delayed_job_waits_in_the_set_not_on_its_queue(aj_app, aj_redis):
    class LaterJob(ApplicationJob):
        queue_as("later")

        def perform(self, number):
            pass

    before = time.time()
    job = LaterJob.set(wait=60, priority=4).perform_later(7)
    assert job.successfully_enqueued
    assert queued(aj_redis.client, "later") == {}
    scheduled = scheduled_set_for(aj_app)
    assert scheduled.direct
    assert scheduled.count() == 1
    [(member, score)] = aj_redis.client.zrange("activejob:scheduled", 0, -1, withscores=True)
    assert member.decode() == f"{job.job_id}/{job.provider_job_id}"
    assert before + 60 <= score <= time.time() + 60
    found = scheduled.get(job.job_id)
    assert found is not None
    assert (found.job_class, found.queue_name, found.priority) == (LaterJob.job_name, "later", 4)
    assert found.arguments == [7] and found.executions == 0 and not found.claimed
    assert abs(found.run_at.timestamp() - job.scheduled_at.timestamp()) < 1e-3


def test_a_job_whose_time_has_passed_goes_straight_to_the_queue(aj_app, aj_redis):
    class PastJob(ApplicationJob):
        def perform(self):
            pass

    PastJob.set(wait_until=datetime.now(timezone.utc) - timedelta(seconds=5)).perform_later()
    PastJob.set(wait=0).perform_later()
    assert scheduled_set_for(aj_app).count() == 0
    assert [len(messages) for messages in queued(aj_redis.client, "default").values()] == [2]


def test_inspection_and_control_api(aj_app, aj_redis):
    class ReportJob(ApplicationJob):
        queue_as("reports")

        def perform(self, name):
            pass

    class MailJob(ApplicationJob):
        queue_as("mail")

        def perform(self, name):
            pass

    scheduled = scheduled_set_for(aj_app)
    third = MailJob.set(wait=300).perform_later("c")
    first = ReportJob.set(wait=100, priority=2).perform_later("a")
    second = ReportJob.set(wait=200).perform_later("b")
    assert scheduled.count() == 3
    assert [job.job_id for job in scheduled.list()] == [first.job_id, second.job_id, third.job_id]
    assert [job.job_id for job in scheduled.list(limit=1)] == [first.job_id]
    assert [job.arguments for job in scheduled.list(queue="reports")] == [["a"], ["b"]]
    assert [job.job_id for job in scheduled.list(job_class="MailJob")] == [third.job_id]
    assert [job.job_id for job in scheduled.list(job_class=MailJob.job_name)] == [third.job_id]
    by_task_id = scheduled.get(second.provider_job_id)
    assert by_task_id is not None and by_task_id.job_id == second.job_id
    shown = scheduled.get(first.job_id)
    assert shown is not None and shown.priority == 2 and shown.as_dict()["run_at"].startswith("20")
    assert scheduled.get("no-such-job") is None

    assert scheduled.run_now(first.job_id) == 1
    [(key, [message])] = queued(aj_redis.client, "reports").items()
    assert key == f"reports{SEP}3" and message["headers"]["id"] == first.provider_job_id
    assert scheduled.count() == 2 and scheduled.run_now(first.job_id) == 0

    assert scheduled.delete(third.job_id) == 1
    assert scheduled.delete(third.job_id) == 0
    assert [job.job_id for job in scheduled.list()] == [second.job_id]
    assert aj_redis.client.hlen("activejob:scheduled:entries") == 1


def test_perform_all_later_schedules_in_bulk(aj_app, aj_redis):
    from activejob_celery import perform_all_later

    class BulkJob(ApplicationJob):
        def perform(self, number):
            pass

    later = [BulkJob(n) for n in range(50)]
    for job in later:
        job.scheduled_at = datetime.now(timezone.utc) + timedelta(minutes=5)
    now = [BulkJob(n) for n in range(5)]
    perform_all_later(later + now)
    assert all(job.successfully_enqueued for job in later + now)
    assert scheduled_set_for(aj_app).count() == 50
    assert sum(len(m) for m in queued(aj_redis.client, "default").values()) == 5


def test_scheduler_celery_keeps_celery_eta(aj_redis):
    app = make_app(aj_redis.url, activejob_scheduler="celery")

    class EtaJob(ApplicationJob):
        def perform(self):
            pass

    EtaJob.set(wait=60).perform_later()
    [(_, [message])] = queued(aj_redis.client, "default").items()
    assert message["headers"]["eta"] is not None
    assert aj_redis.client.exists("activejob:scheduled") == 0
    assert SchedulerPoller not in app.steps["worker"]
    app.close()


def test_the_embedded_poller_can_be_turned_off(aj_redis):
    app = make_app(aj_redis.url, activejob_scheduler_embedded=False)
    assert SchedulerPoller not in app.steps["worker"]
    with run_worker(app):
        names = [thread.name for thread in threading.enumerate()]
    assert "activejob-scheduler" not in names
    app.close()


def test_the_poller_thread_stops_with_the_worker(aj_app):
    with run_worker(aj_app):
        assert "activejob-scheduler" in [thread.name for thread in threading.enumerate()]
    wait_for(lambda: "activejob-scheduler" not in [t.name for t in threading.enumerate()], 5)


def test_scheduling_while_redis_is_unreachable_is_an_enqueue_error(aj_redis):
    app = make_app(f"redis://127.0.0.1:{free_port()}/1", broker_connection_max_retries=1)
    assert is_initialised(app) and isinstance(scheduled_set_for(app), ScheduledSet)

    class UnreachableJob(ApplicationJob):
        def perform(self):
            pass

    job = UnreachableJob.set(wait=30).perform_later()
    assert job.successfully_enqueued is False
    assert isinstance(job.enqueue_error, EnqueueError)
    app.close()


def test_stored_direct_entries_decode_to_the_pushes(aj_app, aj_redis):
    class DecodedJob(ApplicationJob):
        def perform(self):
            pass

    job = DecodedJob.set(wait=30, priority=1).perform_later()
    [value] = aj_redis.client.hvals("activejob:scheduled:entries")
    [(key, message)] = decode_direct(value)
    assert key == f"default{SEP}2".encode()  # priority 1: the third list
    assert json.loads(message)["headers"]["id"] == job.provider_job_id


# Sentry's CeleryIntegration (initialised by earlier tests) wraps Celery's publish for the rest of
# the process, which rightly stops copies: this test runs with Celery's own functions.
@pytest.mark.usefixtures(celerys_own_publish_functions.__name__)
def test_delayed_jobs_are_copies_once_two_messages_proved_the_template(aj_app, aj_redis):
    from activejob_celery import adapters, perform_all_later

    class ManyLaterJob(ApplicationJob):
        queue_as("many_later")

        def perform(self, number):
            pass

    adapter = adapters.named_adapter("celery")
    builder = adapter.scheduler.builder
    built = []
    real_build = builder.build
    builder.build = lambda publish: built.append(1) or real_build(publish)
    try:
        jobs = [ManyLaterJob(n).set(wait=120, priority=3) for n in range(30)]
        perform_all_later(jobs)
    finally:
        del builder.build
    assert all(job.successfully_enqueued for job in jobs)
    assert len(built) == 2  # the first two prove the template; the other 28 are copies
    ids = {job.provider_job_id: job for job in jobs}
    extra = ManyLaterJob(99).set(priority=3)  # what Celery builds for one more of the kind
    [(celery_key, celery_message)] = real_build(
        lambda producer: adapter.send_prepared(extra, adapter.prepare(extra), producer=producer)
    )
    reference = json.loads(celery_message)
    stored = aj_redis.client.hgetall("activejob:scheduled:entries").values()
    assert len(stored) == 30
    for value in stored:
        [(key, message)] = decode_direct(value)
        assert key == celery_key
        copy = json.loads(message)
        job = ids.pop(copy["headers"]["id"])
        assert sorted(copy) == sorted(reference)
        assert sorted(copy["headers"]) == sorted(reference["headers"])
        assert sorted(copy["properties"]) == sorted(reference["properties"])
        assert copy["properties"]["delivery_info"] == reference["properties"]["delivery_info"]
        assert copy["headers"]["argsrepr"] == repr(tuple(job.arguments))
    assert ids == {}


def test_entries_are_stored_with_one_hset_and_one_zadd_per_thousand(aj_redis):
    from activejob_celery.config import Settings

    client = aj_redis.client
    scheduled = ScheduledSet(client, Settings(key_prefix="bulkadd"), adapter=None, direct=False)
    now = time.time()
    entries = [(f"job{n}/task{n}", b"value %d" % n, now + 600 + n) for n in range(2500)]
    entries.append(("job7/task7", b"stored again", now + 5))  # a repeated member: last wins

    def calls(command):
        return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))

    before = calls("hset"), calls("zadd")
    scheduled.add(entries)
    after = calls("hset"), calls("zadd")
    assert scheduled.count() == 2500
    assert client.hget(scheduled.entries_key, "job7/task7") == b"stored again"
    assert client.zscore(scheduled.key, "job7/task7") == pytest.approx(now + 5)
    assert client.hget(scheduled.entries_key, "job2499/task2499") == b"value 2499"
    # three calls of 1 000 (one of them 501), each one HSET and one ZADD: not one per entry
    assert after[0] - before[0] <= 3 + 2 and after[1] - before[1] <= 3 + 2
