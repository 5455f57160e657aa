"""A recurring run whose enqueue fails is an error of its task: retried, then a dead letter."""

from __future__ import annotations

import logging

import pytest
from celery.signals import task_failure, task_retry, task_success

from activejob_celery import ApplicationJob, EnqueueError
from activejob_celery.adapters.celery import CeleryAdapter
from activejob_celery.dead_letters import store_for
from activejob_celery.recurring import load_recurring, run_now, sync
from activejob_celery.recurring.store import TASK_NAME
from activejob_celery.recurring.tasks import RecurringEnqueueError
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

RAN: list[int] = []


class RecurringUnpublishableJob(ApplicationJob):
    job_name = "aj_recurring_failure.UnpublishableJob"

    def perform(self, number: int) -> None:
        RAN.append(number)


@pytest.fixture
def aj_broken_publish(monkeypatch):
    """Publishing RecurringUnpublishableJob fails while the returned list is non-empty."""
    broken = [True]
    attempts: list[str] = []
    publish = CeleryAdapter.publish

    def failing(self, job, **kwargs):
        if isinstance(job, RecurringUnpublishableJob) and broken:
            attempts.append(job.job_id)
            raise EnqueueError(f"Error while publishing {job.job_name}: broker said no")
        return publish(self, job, **kwargs)

    monkeypatch.setattr(CeleryAdapter, "publish", failing)
    return broken, attempts


@pytest.fixture
def aj_task_outcomes():
    outcomes: list[str] = []

    def on(kind):
        def receiver(sender=None, **_):
            if getattr(sender, "name", None) == TASK_NAME:
                outcomes.append(kind)

        return receiver

    kinds = ((task_success, "success"), (task_retry, "retry"), (task_failure, "failure"))
    receivers = {signal: on(kind) for signal, kind in kinds}
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False)
    yield outcomes
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


def test_a_failed_recurring_enqueue_is_retried_then_dead_lettered(
    aj_redis, aj_broken_publish, aj_task_outcomes, caplog
):
    broken, attempts = aj_broken_publish
    RAN.clear()
    app = make_app(aj_redis.url, redbeat_redis_url=aj_redis.url)
    entry = {"class": RecurringUnpublishableJob.job_name, "schedule": "every day at 2am",
             "args": [7]}  # fmt: skip
    sync(app, load_recurring({"unpublishable": entry}))
    task = app.tasks[TASK_NAME]
    task.max_retries, task.default_retry_delay = 2, 0
    caplog.set_level(logging.INFO, logger="activejob_celery")

    with run_worker(app):
        task.delay("unpublishable")
        [letter] = wait_for(lambda: store_for(app).list(), timeout=30, message="the dead letter")
        wait_for(lambda: "failure" in aj_task_outcomes, timeout=10, message="the task's failure")

    assert len(attempts) == 3  # the first run and two retries
    assert aj_task_outcomes == ["retry", "retry", "failure"]
    assert letter.reason == "exhausted"
    assert letter.job_class == RecurringUnpublishableJob.job_name
    assert letter.error_class.endswith("EnqueueError")
    assert "broker said no" in letter.error_message
    assert letter.payload["arguments"] == [7]
    enqueued = [r.getMessage() for r in caplog.records if "enqueued" in r.getMessage()]
    assert enqueued == []
    assert any("could not enqueue" in r.getMessage() for r in caplog.records)

    with pytest.raises(RecurringEnqueueError, match="broker said no"):
        run_now("unpublishable", app=app)  # the CLI and the dashboard report it, not "Enqueued"

    broken.clear()  # the broker takes it again: the run is retried from the dead letters
    with run_worker(app):
        store_for(app).retry(letter.id)
        wait_for(lambda: RAN == [7], timeout=30, message="the recurring run, retried")
    app.close()
