"""The inline adapter: perform_later runs at once, through a payload round trip."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, ClassVar

import pytest

from activejob_celery import ApplicationJob, EnqueueError, SerializationError, perform_all_later
from activejob_celery.adapters import InlineAdapter, named_adapter


class InlineJob(ApplicationJob):
    queue_adapter = "inline"
    seen: ClassVar[list[dict[str, Any]]] = []

    def perform(self, *args, **kwargs):
        self.seen.append(
            {
                "args": args,
                "kwargs": kwargs,
                "executions": self.executions,
                "job_id": self.job_id,
                "enqueued_at": self.enqueued_at,
                "self": self,
            }
        )
        return "inline result"


@pytest.fixture(autouse=True)
def clear_seen():
    InlineJob.seen = []


def test_perform_later_runs_immediately_through_the_payload():
    job = InlineJob.perform_later(1, (2, 3), when=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert job.successfully_enqueued is True
    [run] = InlineJob.seen
    # The arguments went through the encoder: the tuple is a tuple again, the time is aware.
    assert run["args"] == (1, (2, 3))
    assert run["kwargs"] == {"when": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    assert run["executions"] == 1
    assert run["job_id"] == job.job_id
    assert run["enqueued_at"] is not None
    # Rails runs a deserialized copy, not the caller's instance.
    assert run["self"] is not job
    assert job.executions == 0


def test_inline_is_selected_by_name_and_by_setting(aj_settings):
    assert isinstance(named_adapter("inline"), InlineAdapter)
    assert named_adapter("inline") is named_adapter("inline")
    assert InlineJob().adapter() is named_adapter("inline")

    class DefaultAdapterJob(ApplicationJob):
        def perform(self):
            pass

    aj_settings(queue_adapter="inline")
    assert isinstance(DefaultAdapterJob().adapter(), InlineAdapter)


def test_non_serializable_arguments_fail_like_a_real_broker():
    with pytest.raises(SerializationError):
        InlineJob.perform_later(object())
    assert InlineJob.seen == []


def test_errors_in_perform_reach_the_caller():
    class FailingInlineJob(ApplicationJob):
        queue_adapter = "inline"

        def perform(self):
            raise RuntimeError("inline failure")

    with pytest.raises(RuntimeError, match="inline failure"):
        FailingInlineJob.perform_later()


def test_scheduling_is_refused_as_an_enqueue_error(caplog):
    caplog.set_level(logging.INFO, logger="activejob_celery")
    job = InlineJob.set(wait=60).perform_later(1)
    assert job.successfully_enqueued is False
    assert isinstance(job.enqueue_error, EnqueueError)
    assert "cannot run jobs in the future" in str(job.enqueue_error)
    assert InlineJob.seen == []
    assert any(
        r.getMessage().startswith("[ActiveJob] Failed enqueuing InlineJob to Inline(default)")
        for r in caplog.records
    )


def test_log_lines_name_the_inline_adapter(caplog):
    caplog.set_level(logging.INFO, logger="activejob_celery")
    job = InlineJob.perform_later()
    messages = [r.getMessage() for r in caplog.records if r.name == "activejob_celery"]
    assert any(
        f"Performing InlineJob (Job ID: {job.job_id}) from Inline(default)" in m for m in messages
    )
    assert messages[-1].startswith(
        f"[ActiveJob] Enqueued InlineJob (Job ID: {job.job_id}) to Inline"
    )


def test_perform_all_later_runs_each_job():
    jobs = [InlineJob(1), InlineJob(2)]
    perform_all_later(jobs)
    assert [run["args"] for run in InlineJob.seen] == [(1,), (2,)]
    assert all(job.successfully_enqueued for job in jobs)
