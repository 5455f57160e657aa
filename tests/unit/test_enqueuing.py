"""Enqueuing: perform_later, set(...), job.enqueue, perform_now, perform_all_later, failures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from activejob_celery import (
    Abort,
    ApplicationJob,
    ConfigurationError,
    ConfiguredJob,
    EnqueueError,
    SerializationError,
    adapters,
    after_enqueue,
    around_enqueue,
    before_enqueue,
    before_perform,
    current_settings,
    perform_all_later,
    rescue_from,
    signals,
)
from activejob_celery.adapters import QueueAdapter
from activejob_celery.testing import TestAdapter
from tests.unit.helpers import FROZEN_NOW


class FailingAdapter(QueueAdapter):
    """Refuses every job, as a broker that is down does."""

    display_name = "Failing"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.attempts = 0

    def enqueue(self, job):
        self.attempts += 1
        raise self.error or EnqueueError("broker is down")

    def enqueue_at(self, job, timestamp):
        self.enqueue(job)


class FlakyAdapter(QueueAdapter):
    """Refuses jobs whose first argument is "bad"."""

    display_name = "Flaky"

    def __init__(self) -> None:
        self.taken: list[tuple[Any, float | None]] = []

    def enqueue(self, job):
        self._take(job, None)

    def enqueue_at(self, job, timestamp):
        self._take(job, timestamp)

    def _take(self, job, at):
        if job.arguments and job.arguments[0] == "bad":
            raise EnqueueError(f"refused {job.arguments[0]}")
        job.serialize()
        self.taken.append((job.arguments[0] if job.arguments else None, at))


class EchoJob(ApplicationJob):
    def perform(self, *args, **kwargs):
        return {
            "args": list(args),
            "kwargs": kwargs,
            "queue": self.queue_name,
            "priority": self.priority,
            "scheduled_at": self.scheduled_at,
            "executions": self.executions,
        }


@pytest.fixture
def aj_signal_log() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Records (signal name, keyword arguments) for the enqueue signals."""
    log: list[tuple[str, dict[str, Any]]] = []
    receivers = []
    for signal in (signals.enqueue, signals.enqueue_at, signals.enqueue_all):

        def receiver(sender, _name=signal.name, **kwargs):
            log.append((_name, {"sender": sender, **kwargs}))

        signal.connect(receiver, weak=False)
        receivers.append((signal, receiver))
    yield log
    for signal, receiver in receivers:
        signal.disconnect(receiver)


# --------------------------------------------------------------------------- perform_later


def test_perform_later_returns_the_enqueued_job(aj_adapter, aj_signal_log):
    job = EchoJob.perform_later(1, "two", three=3)
    assert isinstance(job, EchoJob)
    assert job.successfully_enqueued is True
    assert job.enqueue_error is None
    assert job.provider_job_id is not None
    [record] = aj_adapter.enqueued_jobs
    assert record["job_id"] == job.job_id
    assert record["provider_job_id"] == job.provider_job_id
    assert record["args"] == [1, "two"]
    assert record["kwargs"] == {"three": 3}
    assert record["at"] is None
    assert [name for name, _ in aj_signal_log] == ["activejob.enqueue"]
    assert aj_signal_log[0][1]["job"] is job
    assert aj_signal_log[0][1]["adapter"] is aj_adapter
    assert aj_signal_log[0][1]["aborted"] is False


def test_perform_later_returns_false_when_a_before_enqueue_callback_halts(
    aj_adapter, aj_signal_log
):
    calls = []

    class GuardedJob(ApplicationJob):
        @before_enqueue
        def guard(self):
            calls.append("before")
            raise Abort

        @after_enqueue
        def after(self):
            calls.append("after")

        def perform(self):
            pass

    assert GuardedJob.perform_later() is False
    assert calls == ["before"]
    assert aj_adapter.enqueued_jobs == []
    assert aj_signal_log[0][1]["aborted"] is True


def test_enqueue_error_is_recorded_on_the_job_never_raised(caplog):
    caplog.set_level(logging.INFO, logger="activejob_celery")
    adapter = FailingAdapter()
    calls = []

    class DownJob(ApplicationJob):
        queue_adapter = adapter

        @after_enqueue
        def after(self):
            calls.append(self.successfully_enqueued)

        def perform(self, number):
            pass

    job = DownJob.perform_later(42)
    assert isinstance(job, DownJob)
    assert job.successfully_enqueued is False
    assert isinstance(job.enqueue_error, EnqueueError)
    assert str(job.enqueue_error) == "broker is down"
    # Rails: EnqueueError is caught inside the callback chain, so after_enqueue still runs.
    assert calls == [False]
    [line] = [r for r in caplog.records if "Failed enqueuing" in r.getMessage()]
    assert line.levelno == logging.ERROR
    assert line.getMessage() == (
        f"[ActiveJob] Failed enqueuing {DownJob.__qualname__} to Failing(default): "
        "EnqueueError (broker is down)"
    )


def test_other_adapter_errors_propagate_and_skip_after_enqueue():
    calls = []

    class CrashJob(ApplicationJob):
        queue_adapter = FailingAdapter(RuntimeError("adapter bug"))

        @after_enqueue
        def after(self):
            calls.append("after")

        def perform(self):
            pass

    with pytest.raises(RuntimeError, match="adapter bug"):
        CrashJob.perform_later()
    assert calls == []


def test_each_enqueue_attempt_resets_the_outcome(aj_adapter):
    job = EchoJob()
    job.enqueue_error = EnqueueError("earlier failure")
    job.successfully_enqueued = False
    assert job.enqueue() is job
    assert (job.successfully_enqueued, job.enqueue_error) == (True, None)

    failing = FailingAdapter()
    type(job).queue_adapter = failing
    try:
        assert job.enqueue() is job
        assert job.successfully_enqueued is False
        assert isinstance(job.enqueue_error, EnqueueError)
    finally:
        type(job).queue_adapter = None


def test_non_serializable_argument_raises_and_nothing_is_enqueued(aj_adapter, caplog):
    caplog.set_level(logging.INFO, logger="activejob_celery")

    class Opaque:
        pass

    with pytest.raises(SerializationError) as excinfo:
        EchoJob.perform_later(Opaque())
    assert "Opaque" in str(excinfo.value)
    assert "add_serializers" in str(excinfo.value)
    assert aj_adapter.enqueued_jobs == []
    assert any(
        "Failed enqueuing EchoJob to Test(default): SerializationError" in r.getMessage()
        for r in caplog.records
    )


def test_enqueue_callbacks_wrap_the_adapter_call(aj_adapter):
    calls = []

    class WrappedJob(ApplicationJob):
        @before_enqueue
        def before(self):
            calls.append(("before", len(aj_adapter.enqueued_jobs)))

        @around_enqueue
        def around(self):
            calls.append(("around-in", len(aj_adapter.enqueued_jobs)))
            yield
            calls.append(("around-out", len(aj_adapter.enqueued_jobs)))

        @after_enqueue
        def after(self):
            calls.append(("after", self.successfully_enqueued))

        def perform(self):
            pass

    WrappedJob.perform_later()
    assert calls == [("before", 0), ("around-in", 0), ("after", True), ("around-out", 1)]


# --------------------------------------------------------------------------- set(...)


def test_set_wait_schedules_relative_to_now(aj_adapter, aj_clock, aj_signal_log):
    job = EchoJob.set(wait=90).perform_later()
    assert job.scheduled_at == FROZEN_NOW + timedelta(seconds=90)
    assert aj_adapter.enqueued_jobs[0]["at"] == (FROZEN_NOW + timedelta(seconds=90)).timestamp()
    assert aj_adapter.enqueued_jobs[0]["scheduled_at"] == "2026-11-24T14:08:19.123456Z"
    assert [name for name, _ in aj_signal_log] == ["activejob.enqueue_at"]
    assert EchoJob.set(wait=timedelta(minutes=5)).perform_later().scheduled_at == (
        FROZEN_NOW + timedelta(minutes=5)
    )
    assert EchoJob.set(wait=2.5).perform_later().scheduled_at == FROZEN_NOW + timedelta(seconds=2.5)


def test_wait_zero_or_in_the_past_is_still_scheduled(aj_adapter, aj_clock):
    # Rails: any wait makes the job scheduled, even 0 or a time in the past.
    assert EchoJob.set(wait=0).perform_later().scheduled_at == FROZEN_NOW
    past = EchoJob.set(wait=-30).perform_later()
    assert past.scheduled_at == FROZEN_NOW - timedelta(seconds=30)
    assert [r["at"] is not None for r in aj_adapter.enqueued_jobs] == [True, True]


def test_wait_until_takes_aware_and_naive_times(aj_adapter):
    tokyo = timezone(timedelta(hours=9))
    aware = EchoJob.set(wait_until=datetime(2030, 1, 1, 9, 0, tzinfo=tokyo)).perform_later()
    assert aware.scheduled_at == datetime(2030, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert aj_adapter.enqueued_jobs[0]["scheduled_at"] == "2030-01-01T00:00:00.000000Z"
    naive = EchoJob.set(wait_until=datetime(2030, 1, 1, 9, 0)).perform_later()
    assert naive.scheduled_at == datetime(2030, 1, 1, 9, 0, tzinfo=timezone.utc)


def test_wait_until_wins_over_wait(aj_adapter, aj_clock):
    target = datetime(2031, 5, 6, tzinfo=timezone.utc)
    job = EchoJob.set(wait=10, wait_until=target).perform_later()
    assert job.scheduled_at == target


def test_set_queue_and_priority(aj_adapter):
    job = EchoJob.set(queue="urgent", priority=1).perform_later()
    assert (job.queue_name, job.priority) == ("urgent", 1)
    [record] = aj_adapter.enqueued_jobs
    assert (record["queue_name"], record["priority"]) == ("urgent", 1)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"wait": "soon"}, "wait='soon' must be seconds or a timedelta"),
        ({"wait": True}, "wait=True must be seconds or a timedelta"),
        ({"wait_until": "2030-01-01"}, "must be a datetime"),
        ({"wait_until": 1_900_000_000}, "must be a datetime"),
    ],
)
def test_invalid_set_options_are_configuration_errors(aj_adapter, options, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        EchoJob.set(**options).perform_later()
    assert aj_adapter.enqueued_jobs == []


def test_unknown_set_options_are_rejected_at_once():
    with pytest.raises(ConfigurationError, match=r"unknown options \['delay'\]"):
        EchoJob.set(delay=5)
    with pytest.raises(ConfigurationError, match="unknown options"):
        EchoJob.set(queue="q").set(prio=1)


def test_configured_job_merges_options_and_is_reusable(aj_adapter):
    configured = EchoJob.set(queue="a", priority=5)
    assert isinstance(configured, ConfiguredJob)
    merged = configured.set(queue="b")
    assert merged.options == {"queue": "b", "priority": 5}
    assert configured.options == {"queue": "a", "priority": 5}
    assert repr(configured) == "<ConfiguredJob EchoJob {'queue': 'a', 'priority': 5}>"
    first, second = configured.perform_later(1), merged.perform_later(2)
    assert (first.queue_name, second.queue_name) == ("a", "b")
    assert first.job_id != second.job_id


def test_configured_perform_now_applies_options_and_runs_here(aj_adapter, aj_clock):
    result = EchoJob.set(queue="now", priority=2, wait=60).perform_now(1, k="v")
    assert result == {
        "args": [1],
        "kwargs": {"k": "v"},
        "queue": "now",
        "priority": 2,
        "scheduled_at": FROZEN_NOW + timedelta(seconds=60),
        "executions": 1,
    }
    assert aj_adapter.enqueued_jobs == []


def test_instance_enqueue_and_set(aj_adapter, aj_clock):
    job = EchoJob("x")
    assert job.set(queue="instance_q") is job
    assert job.queue_name == "instance_q"
    assert job.enqueue(wait=5, priority=3) is job
    assert job.scheduled_at == FROZEN_NOW + timedelta(seconds=5)
    assert aj_adapter.enqueued_jobs[0]["queue_name"] == "instance_q"
    assert aj_adapter.enqueued_jobs[0]["priority"] == 3
    # A job enqueued twice keeps its job_id; the adapter gives each enqueue a new provider id.
    first_provider_id = job.provider_job_id
    job.enqueue()
    assert [r["job_id"] for r in aj_adapter.enqueued_jobs] == [job.job_id, job.job_id]
    assert job.provider_job_id != first_provider_id


# --------------------------------------------------------------------------- perform_now


def test_perform_now_runs_here_and_returns_perform_value(aj_adapter):
    assert EchoJob.perform_now(1, a=2)["args"] == [1]
    job = EchoJob(5)
    assert job.perform_now()["executions"] == 1
    assert job.perform_now()["executions"] == 2
    assert aj_adapter.enqueued_jobs == []


def test_perform_now_takes_arguments_that_cannot_be_serialized(aj_adapter):
    marker = object()
    assert EchoJob.perform_now(marker)["args"] == [marker]


def test_perform_now_returns_false_when_halted_and_the_error_when_handled(aj_adapter):
    class HaltJob(ApplicationJob):
        @before_perform
        def stop(self):
            raise Abort

        def perform(self):
            raise AssertionError("not reached")

    class HandledJob(ApplicationJob):
        rescue_from(KeyError, with_=lambda job, error: None)

        def perform(self):
            raise KeyError("missing")

    assert HaltJob.perform_now() is False
    result = HandledJob.perform_now()
    assert isinstance(result, KeyError)


# --------------------------------------------------------------------------- retry_job


def test_retry_job_enqueues_again_and_restores_the_in_memory_job(aj_adapter, aj_clock):
    job = EchoJob(1)
    job.queue_name = "original"
    job.priority = 4
    assert job.retry_job(wait=30, queue="retries", priority=9) is job
    [record] = aj_adapter.enqueued_jobs
    assert (record["queue_name"], record["priority"]) == ("retries", 9)
    assert record["at"] == (FROZEN_NOW + timedelta(seconds=30)).timestamp()
    assert (job.queue_name, job.priority, job.scheduled_at) == ("original", 4, None)


# --------------------------------------------------------------------------- perform_all_later


def test_perform_all_later_groups_by_adapter_and_marks_each_job(aj_adapter, aj_signal_log):
    flaky = FlakyAdapter()
    calls = []

    class FlakyJob(ApplicationJob):
        queue_adapter = flaky

        @before_enqueue
        def never(self):
            calls.append("before_enqueue")

        def perform(self, value):
            pass

    good, bad, also_good = FlakyJob("good"), FlakyJob("bad"), FlakyJob("fine")
    echo_one, echo_two = EchoJob(1), EchoJob(2)
    assert perform_all_later([echo_one, good], [[bad, echo_two]], also_good) is None

    assert calls == [], "perform_all_later runs no enqueue callbacks"
    assert [(j.successfully_enqueued, j.enqueue_error) for j in (echo_one, echo_two)] == [
        (True, None),
        (True, None),
    ]
    assert [r["args"] for r in aj_adapter.enqueued_jobs] == [[1], [2]]
    assert (good.successfully_enqueued, also_good.successfully_enqueued) == (True, True)
    assert bad.successfully_enqueued is False
    assert str(bad.enqueue_error) == "refused bad"
    assert [value for value, _ in flaky.taken] == ["good", "fine"]

    # One enqueue_all signal per adapter, in first-seen order; no per-job enqueue signals.
    assert [name for name, _ in aj_signal_log] == ["activejob.enqueue_all"] * 2
    test_group, flaky_group = (payload for _, payload in aj_signal_log)
    assert test_group["adapter"] is aj_adapter
    assert test_group["jobs"] == [echo_one, echo_two]
    assert test_group["enqueued_count"] == 2
    assert flaky_group["adapter"] is flaky
    assert flaky_group["jobs"] == [good, bad, also_good]
    assert flaky_group["enqueued_count"] == 2


def test_perform_all_later_schedules_jobs_that_have_a_time(aj_adapter, aj_clock):
    later = EchoJob("later")
    later.set(wait=60)
    perform_all_later([EchoJob("now"), later])
    assert [r["at"] for r in aj_adapter.enqueued_jobs] == [
        None,
        (FROZEN_NOW + timedelta(seconds=60)).timestamp(),
    ]


def test_perform_all_later_resets_outcomes_and_rejects_non_jobs(aj_adapter, aj_signal_log):
    job = EchoJob()
    job.enqueue_error = EnqueueError("old")
    perform_all_later(job)
    assert (job.successfully_enqueued, job.enqueue_error) == (True, None)

    class RefusedJob(ApplicationJob):
        queue_adapter = FailingAdapter()

        def perform(self):
            pass

    refused = RefusedJob()
    refused.successfully_enqueued = True  # from an earlier, successful enqueue
    perform_all_later(refused)
    assert refused.successfully_enqueued is False
    assert str(refused.enqueue_error) == "broker is down"
    with pytest.raises(TypeError, match="perform_all_later takes jobs or lists of jobs"):
        perform_all_later([EchoJob(), "not a job"])
    aj_signal_log.clear()
    perform_all_later([])
    assert aj_signal_log == []


def test_perform_all_later_with_a_custom_adapter_without_enqueue_all(aj_settings):
    adapter = TestAdapter()

    class CustomJob(ApplicationJob):
        queue_adapter = adapter

        def perform(self):
            pass

    jobs = [CustomJob(), CustomJob()]
    perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)
    assert len(adapter.enqueued_jobs) == 2


# --------------------------------------------------------------------------- before init_app


def test_perform_now_works_before_init_app_but_enqueuing_needs_an_app(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="activejob_celery")
    monkeypatch.delitem(adapters._named, "celery", raising=False)
    assert current_settings().queue_adapter == "celery"
    assert EchoJob.perform_now(1)["args"] == [1]
    assert any("from Inline(default)" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigurationError, match=r"call activejob_celery\.init_app"):
        EchoJob.perform_later(1)
