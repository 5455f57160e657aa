"""``activejob_raise_on_enqueue_error``: a refused enqueue raises instead of returning the job."""

from __future__ import annotations

import pytest

from activejob_celery import (
    ApplicationJob,
    ConfigurationError,
    EnqueueError,
    after_enqueue,
    perform_all_later,
)
from activejob_celery.config import Settings
from tests.unit.test_enqueuing import FailingAdapter, FlakyAdapter


def test_the_setting_defaults_to_off_and_is_read_from_the_app():
    assert Settings().raise_on_enqueue_error is False
    assert Settings(raise_on_enqueue_error=True).raise_on_enqueue_error is True
    with pytest.raises(ConfigurationError, match="activejob_raise_on_enqueue_error"):
        Settings(raise_on_enqueue_error="yes")  # type: ignore[arg-type]


def test_perform_later_set_and_enqueue_raise_when_on(aj_settings):
    aj_settings(raise_on_enqueue_error=True)
    calls: list[bool] = []

    class DownJob(ApplicationJob):
        queue_adapter = FailingAdapter()

        @after_enqueue
        def after(self):
            calls.append(self.successfully_enqueued)

        def perform(self):
            pass

    with pytest.raises(EnqueueError, match="broker is down"):
        DownJob.perform_later()
    with pytest.raises(EnqueueError, match="broker is down"):
        DownJob.set(queue="other", wait=10).perform_later()
    job = DownJob()
    with pytest.raises(EnqueueError):
        job.enqueue()
    assert job.successfully_enqueued is False and isinstance(job.enqueue_error, EnqueueError)
    assert calls == [False, False, False]  # the callbacks ran as they do without the setting


def test_perform_all_later_raises_after_trying_every_job(aj_settings):
    aj_settings(raise_on_enqueue_error=True)
    adapter = FlakyAdapter()

    class SomeJob(ApplicationJob):
        queue_adapter = adapter

        def perform(self, name):
            pass

    jobs = [SomeJob("a"), SomeJob("bad"), SomeJob("c")]
    with pytest.raises(EnqueueError, match="refused bad"):
        perform_all_later(jobs)
    assert [job.successfully_enqueued for job in jobs] == [True, False, True]


def test_off_keeps_returning_the_job(aj_settings):
    aj_settings(raise_on_enqueue_error=False)

    class DownJob(ApplicationJob):
        queue_adapter = FailingAdapter()

        def perform(self):
            pass

    job = DownJob.perform_later()
    assert isinstance(job, DownJob) and job.successfully_enqueued is False
