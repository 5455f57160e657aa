"""The Rails log lines (activejob-spec.md §8.2) and their tags."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pytest

from activejob_celery import (
    Abort,
    ApplicationJob,
    EnqueueError,
    GlobalID,
    before_enqueue,
    before_perform,
    current_job,
    discard_on,
    perform_all_later,
    retry_on,
)
from activejob_celery.adapters import QueueAdapter
from activejob_celery.execution import execute
from activejob_celery.log_subscriber import attach, detach
from tests.unit.helpers import payload_of

MS = r"\d+\.\d{2}ms"


class RefusingAdapter(QueueAdapter):
    display_name = "Refusing"

    def enqueue(self, job):
        if job.arguments and job.arguments[0] == "ok":
            job.provider_job_id = "accepted"
            return
        raise EnqueueError("broker is down")

    def enqueue_at(self, job, timestamp):
        self.enqueue(job)


@dataclass
class Guest:
    id: int

    def to_global_id(self):
        return GlobalID("shop", "Guest", self.id)


class GuestsCleanupJob(ApplicationJob):
    def perform(self, *args, **kwargs):
        return "cleaned"


class OtherJob(ApplicationJob):
    def perform(self):
        pass


class BoomJob(ApplicationJob):
    def perform(self):
        raise ValueError("boom")


class RetryingJob(ApplicationJob):
    retry_on(TimeoutError, wait=3, attempts=2, jitter=0)

    def perform(self):
        raise TimeoutError("slow")


class DiscardingJob(ApplicationJob):
    discard_on(KeyError)

    def perform(self):
        raise KeyError("k")


class HaltingPerformJob(ApplicationJob):
    @before_perform
    def stop(self):
        raise Abort

    def perform(self):
        pass


class HaltingEnqueueJob(ApplicationJob):
    @before_enqueue
    def stop(self):
        raise Abort

    def perform(self):
        pass


class RefusedJob(ApplicationJob):
    queue_adapter = RefusingAdapter()

    def perform(self, *args):
        pass


class QuietJob(ApplicationJob):
    log_arguments = False

    def perform(self, secret):
        pass


class QuietChildJob(QuietJob):
    pass


class OuterJob(ApplicationJob):
    def perform(self):
        InnerJob.perform_now()
        GuestsCleanupJob.perform_later("from inside")


class InnerJob(ApplicationJob):
    def perform(self):
        return current_job()


@pytest.fixture
def lines(caplog):
    """Return the activejob_celery log messages (with their tags) so far."""
    caplog.set_level(logging.DEBUG, logger="activejob_celery")

    def read(level: int = logging.DEBUG) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "activejob_celery" and r.levelno >= level
        ]

    read.records = lambda: [r for r in caplog.records if r.name == "activejob_celery"]
    return read


# --------------------------------------------------------------------------- enqueue


def test_enqueued_line_with_arguments(aj_adapter, lines):
    job = GuestsCleanupJob.perform_later(42, "text", notify=True)
    assert lines() == [
        f"[ActiveJob] Enqueued GuestsCleanupJob (Job ID: {job.job_id}) to Test(default) "
        "with arguments: 42, 'text', notify=True"
    ]
    assert lines.records()[0].levelno == logging.INFO


def test_enqueued_at_line_shows_the_utc_time(aj_adapter, aj_clock, lines):
    job = GuestsCleanupJob.set(wait=60, queue="low").perform_later(1)
    assert lines() == [
        f"[ActiveJob] Enqueued GuestsCleanupJob (Job ID: {job.job_id}) to Test(low) "
        "at 2026-11-24 14:07:49 UTC with arguments: 1"
    ]


def test_no_arguments_no_arguments_suffix(aj_adapter, lines):
    job = OtherJob.perform_later()
    assert lines() == [f"[ActiveJob] Enqueued OtherJob (Job ID: {job.job_id}) to Test(default)"]


def test_failed_enqueuing_line_is_an_error(lines):
    RefusedJob.perform_later("no")
    assert lines() == [
        "[ActiveJob] Failed enqueuing RefusedJob to Refusing(default): "
        "EnqueueError (broker is down)"
    ]
    assert lines.records()[0].levelno == logging.ERROR


def test_halted_enqueue_line(aj_adapter, lines):
    HaltingEnqueueJob.perform_later()
    assert lines() == [
        "[ActiveJob] Failed enqueuing HaltingEnqueueJob to Test(default), a before_enqueue "
        "callback halted the enqueuing execution."
    ]
    assert lines.records()[0].levelno == logging.INFO


def test_global_ids_are_shown_as_uris_everywhere(aj_adapter, lines):
    GuestsCleanupJob.perform_later(Guest(1), [Guest(2)], by={"guest": Guest(3)}, note="x")
    assert lines()[0].endswith(
        "with arguments: gid://shop/Guest/1, [gid://shop/Guest/2], "
        "by={'guest': gid://shop/Guest/3}, note='x'"
    )


def test_log_arguments_off_for_a_class_and_its_subclasses(aj_adapter, lines):
    QuietJob.perform_later("password")
    QuietChildJob.perform_later("password")
    assert all("password" not in line and "with arguments" not in line for line in lines())
    assert len(lines()) == 2


def test_log_arguments_setting(aj_adapter, aj_settings, lines):
    aj_settings(log_arguments=False)
    job = GuestsCleanupJob.perform_later("secret")
    assert lines() == [
        f"[ActiveJob] Enqueued GuestsCleanupJob (Job ID: {job.job_id}) to Test(default)"
    ]
    execute(payload_of(aj_adapter.enqueued_jobs[0]))
    assert not any("secret" in line for line in lines())


# --------------------------------------------------------------------------- enqueue_all


def test_enqueue_all_lines(aj_adapter, lines):
    perform_all_later([GuestsCleanupJob(1), OtherJob(), GuestsCleanupJob(2)])
    assert lines() == ["[ActiveJob] Enqueued 3 jobs to Test (2 GuestsCleanupJob, 1 OtherJob)"]


def test_enqueue_all_partial_and_total_failure(lines):
    perform_all_later([RefusedJob("ok"), RefusedJob("no")])
    perform_all_later([RefusedJob("no"), RefusedJob("no")])
    perform_all_later([RefusedJob("no")])
    assert lines() == [
        "[ActiveJob] Enqueued 1 job to Refusing (1 RefusedJob). Failed enqueuing 1 job",
        "[ActiveJob] Failed enqueuing 2 jobs to Refusing",
        "[ActiveJob] Failed enqueuing 1 job to Refusing",
    ]


# --------------------------------------------------------------------------- perform


def test_performing_and_performed_lines_with_tags(aj_adapter, aj_clock, lines):
    job = GuestsCleanupJob.perform_later(42)
    execute(payload_of(aj_adapter.enqueued_jobs[0]))
    tag = f"[ActiveJob] [GuestsCleanupJob] [{job.job_id}] "
    _, performing, performed = lines()
    assert performing == (
        f"{tag}Performing GuestsCleanupJob (Job ID: {job.job_id}) from Test(default) "
        "enqueued at 2026-11-24T14:06:49.123456Z with arguments: 42"
    )
    assert re.fullmatch(
        re.escape(f"{tag}Performed GuestsCleanupJob (Job ID: {job.job_id}) from Test(default) in ")
        + MS,
        performed,
    )


def test_perform_now_has_no_enqueued_at(aj_adapter, lines):
    job = GuestsCleanupJob(7)
    job.perform_now()
    assert lines()[0] == (
        f"[ActiveJob] [GuestsCleanupJob] [{job.job_id}] Performing GuestsCleanupJob "
        f"(Job ID: {job.job_id}) from Test(default) with arguments: 7"
    )


def test_error_performing_line_carries_the_traceback(aj_adapter, lines):
    job = BoomJob()
    with pytest.raises(ValueError, match="boom"):
        job.perform_now()
    error_line = lines(logging.ERROR)
    assert len(error_line) == 1
    assert re.fullmatch(
        re.escape(
            f"[ActiveJob] [BoomJob] [{job.job_id}] Error performing BoomJob (Job ID: {job.job_id}) "
            "from Test(default) in "
        )
        + MS
        + re.escape(": ValueError (boom):"),
        error_line[0],
    )
    record = next(r for r in lines.records() if r.levelno == logging.ERROR)
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


def test_halted_perform_line(aj_adapter, lines):
    job = HaltingPerformJob()
    assert job.perform_now() is False
    last = lines()[-1]
    assert re.fullmatch(
        re.escape(
            f"[ActiveJob] [HaltingPerformJob] [{job.job_id}] Error performing HaltingPerformJob "
            f"(Job ID: {job.job_id}) from Test(default) in "
        )
        + MS
        + re.escape(": a before_perform callback halted the job execution"),
        last,
    )
    assert lines.records()[-1].levelno == logging.ERROR


def test_retry_lines_in_rails_order(aj_adapter, aj_clock, lines):
    job = RetryingJob()
    job.perform_now()
    tag = f"[ActiveJob] [RetryingJob] [{job.job_id}] "
    performing, enqueued, retrying, performed = lines()
    assert performing.startswith(f"{tag}Performing RetryingJob")
    assert enqueued == (
        f"{tag}Enqueued RetryingJob (Job ID: {job.job_id}) to Test(default) "
        "at 2026-11-24 14:06:52 UTC"
    )
    assert retrying == (
        f"{tag}Retrying RetryingJob (Job ID: {job.job_id}) after 1 attempts in 3 seconds, "
        "due to a TimeoutError (slow)."
    )
    assert performed.startswith(f"{tag}Performed RetryingJob")


def test_stopped_retrying_line_then_error_performing(aj_adapter, lines):
    RetryingJob.perform_later()
    payload = payload_of(aj_adapter.enqueued_jobs[0])
    payload["executions"] = 1
    payload["exception_executions"] = {"[TimeoutError]": 1}
    with pytest.raises(TimeoutError):
        execute(payload)
    job_id = payload["job_id"]
    tag = f"[ActiveJob] [RetryingJob] [{job_id}] "
    _, performing, stopped, error = lines()
    assert performing.startswith(f"{tag}Performing")
    assert stopped == (
        f"{tag}Stopped retrying RetryingJob (Job ID: {job_id}) due to a TimeoutError (slow), "
        "which reoccurred on 2 attempts."
    )
    assert error.startswith(f"{tag}Error performing RetryingJob")
    assert [r.levelno for r in lines.records()[2:]] == [logging.ERROR, logging.ERROR]


def test_discarded_line_then_performed(aj_adapter, lines):
    job = DiscardingJob()
    job.perform_now()
    tag = f"[ActiveJob] [DiscardingJob] [{job.job_id}] "
    performing, discarded, performed = lines()
    assert performing.startswith(f"{tag}Performing DiscardingJob")
    assert (
        discarded == f"{tag}Discarded DiscardingJob (Job ID: {job.job_id}) due to a KeyError ('k')."
    )
    assert performed.startswith(f"{tag}Performed DiscardingJob")
    assert lines.records()[1].levelno == logging.ERROR


def test_nested_jobs_extend_the_tags_and_enqueues_inside_carry_them(aj_adapter, lines):
    outer = OuterJob()
    outer.perform_now()
    outer_tag = f"[ActiveJob] [OuterJob] [{outer.job_id}] "
    inner_lines = [line for line in lines() if "InnerJob" in line]
    assert len(inner_lines) == 2
    assert all(line.startswith(outer_tag + "[InnerJob] [") for line in inner_lines)
    assert "[ActiveJob]" not in inner_lines[0][len("[ActiveJob]") :]
    enqueued = [line for line in lines() if "Enqueued GuestsCleanupJob" in line]
    assert len(enqueued) == 1
    assert enqueued[0].startswith(outer_tag + "Enqueued GuestsCleanupJob")


def test_current_job_is_the_running_job(aj_adapter):
    inner = InnerJob()
    assert current_job() is None
    assert inner.perform_now() is inner
    assert current_job() is None


def test_detach_silences_and_attach_is_idempotent(aj_adapter, lines):
    detach()
    try:
        GuestsCleanupJob.perform_later(1)
        assert lines() == []
    finally:
        attach()
    attach()
    GuestsCleanupJob.perform_later(2)
    assert len(lines()) == 1
