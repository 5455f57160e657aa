"""The early release window: jobs due within ``activejob_release_ahead`` seconds go to their
queue ahead of time with their run time as the message's ``eta``; the rest wait as before."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from celery import current_task

from activejob_celery import ApplicationJob, limits_concurrency
from activejob_celery.config import Settings
from activejob_celery.errors import ConfigurationError
from activejob_celery.scheduler import ScheduledSet, scheduled_set_for
from activejob_celery.status import cancel, job_status
from activejob_celery.worker_checks import visibility_warnings
from tests.integration.test_scheduler import queued
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for


class EarlyJob(ApplicationJob):
    def perform(self, number: int) -> None:
        pass


def only_message(client: Any, queue: str = "default") -> dict[str, Any]:
    [messages] = queued(client, queue).values()
    [message] = messages
    return message


def eta_of(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["headers"]["eta"])


def test_a_job_due_within_the_window_is_on_its_queue_now_with_its_run_time_as_eta(aj_app, aj_redis):
    soon = EarlyJob.set(wait=0.6, priority=3).perform_later(1)
    later = EarlyJob.set(wait=30).perform_later(2)
    scheduled = scheduled_set_for(aj_app)
    assert scheduled.ahead == 1.0
    result = scheduled.release()
    assert result.released == 1
    message = only_message(aj_redis.client)
    assert message["headers"]["id"] == soon.provider_job_id
    eta = eta_of(message)
    assert eta >= soon.scheduled_at and eta - soon.scheduled_at < timedelta(microseconds=2)
    assert eta > datetime.now(timezone.utc)  # released before its time
    # The job's own time is unchanged in its payload; the other job waits in the set.
    assert [job.job_id for job in scheduled.list()] == [later.job_id]
    assert result.next_at is not None
    # The next pass: half a window before the next job's time (it takes half a window of jobs).
    assert abs(result.next_at - (later.scheduled_at.timestamp() - 0.5)) < 1e-3


@pytest.mark.parametrize(
    "when",
    ["2028-02-29T23:59:59.999999", "2027-12-31T00:00:00", "2100-03-01T12:34:56.5", "2030-01-01"],
)
def test_the_eta_the_script_writes_is_the_run_time_to_the_microsecond(aj_app, aj_redis, when):
    due = datetime.fromisoformat(when).replace(tzinfo=timezone.utc)
    job = EarlyJob.set(wait_until=due).perform_later(1)
    released = scheduled_set_for(aj_app).release(now=due.timestamp() - 0.5)
    assert released.released == 1
    eta = eta_of(only_message(aj_redis.client))
    assert eta.tzinfo is not None and eta.utcoffset() == timedelta(0)
    assert timedelta(0) <= eta - job.scheduled_at <= timedelta(microseconds=1)


def test_a_window_of_zero_releases_nothing_early(aj_redis):
    app = make_app(aj_redis.url, activejob_release_ahead=0)
    EarlyJob.set(wait=0.5).perform_later(1)
    scheduled = scheduled_set_for(app)
    result = scheduled.release()
    assert result.released == 0 and scheduled.count() == 1
    assert result.next_at is not None and result.next_at > time.time()
    app.close()


def test_gated_jobs_and_messages_without_an_eta_slot_wait_for_their_time(aj_app, aj_redis):
    class GatedJob(ApplicationJob):
        limits_concurrency(to=1, duration=60)

        def perform(self, number: int) -> None:
            pass

    gated = GatedJob.set(wait=0.8).perform_later(1)
    odd = EarlyJob.set(wait=0.5).perform_later(2)
    scheduled = scheduled_set_for(aj_app)
    member = f"{odd.job_id}/{odd.provider_job_id}"
    value = aj_redis.client.hget(scheduled.entries_key, member)
    assert value.count(b'"eta": null') == 1
    tampered = value.replace(b'"eta": null', b'"etb": null')  # same length: still well-formed
    aj_redis.client.hset(scheduled.entries_key, member, tampered)
    result = scheduled.release()
    assert result.released == 0 and scheduled.count() == 2
    assert not aj_redis.client.keys("activejob:concurrency:slots:*")  # no slot taken early
    assert result.next_at is not None
    assert abs(result.next_at - odd.scheduled_at.timestamp()) < 1e-3  # its own time, no spin
    later = scheduled.release(now=gated.scheduled_at.timestamp() + 0.01)
    [messages] = queued(aj_redis.client, "default").values()
    assert later.released == 2 and [m["headers"].get("eta") for m in messages] == [None, None]


def test_jobs_published_through_celery_carry_the_eta_too(aj_app, aj_redis):
    job = EarlyJob.set(wait=0.7).perform_later(1)
    direct = scheduled_set_for(aj_app)
    through = ScheduledSet(direct.client, Settings(), direct.adapter, direct=False)
    assert through.release().released == 1
    assert direct.count() == 0 and not aj_redis.client.zcard(direct.claims_key)
    message = only_message(aj_redis.client)
    assert message["headers"]["id"] == job.provider_job_id
    assert timedelta(0) <= eta_of(message) - job.scheduled_at <= timedelta(microseconds=1)


def test_explicit_members_run_now_without_an_eta(aj_app, aj_redis):
    job = EarlyJob.set(wait=0.5).perform_later(1)
    assert scheduled_set_for(aj_app).run_now(job.job_id) == 1
    assert only_message(aj_redis.client)["headers"]["eta"] is None


def test_the_setting_takes_seconds_from_zero_and_a_timedelta():
    assert Settings().release_ahead == 1.0
    assert Settings(release_ahead=timedelta(milliseconds=250)).release_ahead == 0.25
    assert Settings(release_ahead=0).release_ahead == 0
    for bad in (-1, True, "1", float("nan"), 3600):
        with pytest.raises(ConfigurationError, match="activejob_release_ahead"):
            Settings(release_ahead=bad)


def test_a_window_near_the_visibility_timeout_is_warned_about(aj_redis):
    options = {"visibility_timeout": 10}
    app = make_app(aj_redis.url, broker_transport_options=options)
    assert not [m for m in visibility_warnings(app) if "release_ahead" in m]
    app.close()
    app = make_app(aj_redis.url, broker_transport_options=options, activejob_release_ahead=5.0)
    [warning] = [m for m in visibility_warnings(app) if "release_ahead" in m]
    assert "activejob_release_ahead (5 s)" in warning and "visibility_timeout (10 s)" in warning
    app.close()


def test_a_worker_holds_an_early_job_until_its_time_and_a_cancel_still_applies(
    aj_app, aj_redis, aj_job_buffer
):
    class HeldJob(ApplicationJob):
        def perform(self, label: str) -> None:
            aj_job_buffer.add((label, time.time(), current_task.request.eta))

    scheduled = scheduled_set_for(aj_app)
    with run_worker(aj_app):
        job = HeldJob.set(wait=1.5).perform_later("held")
        dropped = HeldJob.set(wait=1.5).perform_later("cancelled")
        due = job.scheduled_at.timestamp()
        wait_for(lambda: scheduled.count() == 0, timeout=30)
        released_at = time.time()
        assert released_at < due  # out of the set (on its queue, then in the worker) before due
        assert aj_job_buffer.values == []
        assert job_status(job.job_id, app=aj_app)["status"] == "scheduled"
        cancel(dropped.job_id, app=aj_app)
        wait_for(lambda: len(aj_job_buffer.values) == 1, timeout=30)
        wait_for(
            lambda: job_status(dropped.job_id, app=aj_app)["status"] == "cancelled", timeout=30
        )
    [(label, started, eta)] = aj_job_buffer.values
    assert label == "held" and started >= due
    assert datetime.fromisoformat(eta) >= job.scheduled_at
    assert json.dumps(job_status(job.job_id, app=aj_app)["status"]) == '"succeeded"'
