"""Job errors reach a real HTTP endpoint standing in for Sentry, each exactly once.

A real in-process worker runs the jobs on a real Redis with sentry-sdk initialised in the same
process, with its default integrations (logging, dedupe, ...). The same scenarios run with
sentry-sdk's ``CeleryIntegration`` disabled and enabled: our events carry the job context either
way, and neither the Celery integration nor the logging integration adds a second copy.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from celery import signals as celery_signals
from sentry_sdk.integrations.celery import CeleryIntegration

from activejob_celery import ApplicationJob, discard_on, failures, rescue_from, retry_on
from activejob_celery.integrations import sentry as sentry_integration
from tests.integration.test_sentry_envelopes import (
    SentryEndpoint,
    exception_of,
    flushed_events,
    sentry_session,
    tags_of,
)
from tests.support.worker import run_worker, run_worker_subprocess, wait_for

FAILURE_LOGGER = failures.logger.name


class Oops(Exception):
    pass


class Flaky(Exception):
    pass


class Unwanted(Exception):
    pass


@pytest.fixture
def aj_sentry_endpoint():
    endpoint = SentryEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def aj_postruns():
    """Task ids whose Celery run has completely finished (logging and Sentry hooks included)."""
    finished: list[str] = []
    lock = threading.Lock()

    def on_postrun(task_id: str, **_: Any) -> None:
        with lock:
            finished.append(task_id)

    celery_signals.task_postrun.connect(on_postrun, weak=False)
    yield finished
    celery_signals.task_postrun.disconnect(on_postrun)


def _bind_sentry_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker's consumer binds celery.app.trace.build_tracer when its module is imported. In a
    # `celery worker` process that happens after the app module ran sentry_sdk.init, so the
    # binding is the Celery integration's wrapper; this test process imported the consumer
    # earlier (tests.support.worker), so give it the wrapper the same way.
    import celery.app.trace
    import celery.worker.consumer.consumer

    monkeypatch.setattr(
        celery.worker.consumer.consumer, "build_tracer", celery.app.trace.build_tracer
    )


def _about_these_jobs(event: dict[str, Any]) -> bool:
    text = repr(event)
    return (
        "job_id" in tags_of(event)
        or str(event.get("logger", "")).startswith(("activejob_celery", "celery.app.trace"))
        or any(name in text for name in ("Oops", "Flaky", "Unwanted", "KeyError"))
    )


def _by_job(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [event for event in events if tags_of(event).get("job_id") == job_id]


# `disabled_integrations` would mark the Celery integration as processed for the whole process,
# so a later init could never enable it; leaving auto-enabling off just does not ask for it.
CELERY_MODES = {
    "without-celery-integration": {"auto_enabling_integrations": False},
    "with-celery-integration": {"integrations": [CeleryIntegration()]},
}


@pytest.mark.parametrize("mode", list(CELERY_MODES))
def test_each_job_error_arrives_once_with_job_tags(
    mode, aj_app, aj_sentry_endpoint, aj_postruns, aj_job_buffer, monkeypatch
):
    class UnhandledJob(ApplicationJob):
        def perform(self, order_id, *, note):
            raise Oops(f"order {order_id} broke")

    class ReportedRetryJob(ApplicationJob):
        retry_on(Flaky, wait=0, attempts=2, jitter=0, report=True)

        def perform(self):
            raise Flaky(f"run {self.executions}")

    class SecretJob(ApplicationJob):
        log_arguments = False

        def perform(self, password):
            raise Oops("secret failure")

    class QuietJob(ApplicationJob):
        discard_on(Unwanted)

        @rescue_from(KeyError)
        def ignore(self, error):
            aj_job_buffer.add("rescued")

        def perform(self, kind):
            if kind == "discard":
                raise Unwanted("drop me")
            if kind == "rescue":
                raise KeyError("handled")
            aj_job_buffer.add("done")

    with sentry_session(aj_sentry_endpoint, **CELERY_MODES[mode]):
        _bind_sentry_tracer(monkeypatch)
        with run_worker(aj_app):
            unhandled = UnhandledJob.perform_later(7, note="fragile")
            retried = ReportedRetryJob.perform_later()
            secret = SecretJob.perform_later("hunter2")
            quiet = [QuietJob.perform_later(kind) for kind in ("discard", "rescue", "ok")]
            # Six first runs plus the one retry, each completely finished.
            wait_for(lambda: len(aj_postruns) >= 7, timeout=30, message="seven task runs")
            events = flushed_events(aj_sentry_endpoint)

    assert sorted(aj_job_buffer.values) == ["done", "rescued"]
    for job in quiet:
        assert _by_job(events, job.job_id) == []

    # An unhandled error: one event, level error, with tags, context, arguments and fingerprint.
    [failure] = _by_job(events, unhandled.job_id)
    tags = tags_of(failure)
    assert failure["level"] == "error"
    assert tags["job_class"] == UnhandledJob.job_name
    assert tags["queue"] == "default"
    assert tags["executions"] == "1"
    assert tags["attempts"] == "1"
    assert tags["failure_reason"] == "unhandled"
    assert tags["provider_job_id"] == unhandled.provider_job_id
    assert failure["fingerprint"] == ["activejob", UnhandledJob.job_name, f"{__name__}.Oops"]
    context = failure["contexts"]["active_job"]
    assert context["job_id"] == unhandled.job_id
    assert context["arguments"] == [7, {"note": "fragile", "_aj_kwargs": ["note"]}]
    assert exception_of(failure)["type"] == "Oops"
    assert exception_of(failure)["value"] == "order 7 broke"
    assert exception_of(failure)["mechanism"] == {"type": "activejob", "handled": False}
    if mode == "with-celery-integration":
        # Captured inside the Celery integration's task scope: its tag is on our event too.
        assert tags["celery_task_id"] == unhandled.provider_job_id

    # retry_on(report=True): a warning for the retried run, an error once attempts ran out.
    retry_events = _by_job(events, retried.job_id)
    assert [(event["level"], exception_of(event)["value"]) for event in retry_events] == [
        ("warning", "run 1"),
        ("error", "run 2"),
    ]
    warning, exhausted = retry_events
    assert exception_of(warning)["mechanism"]["handled"] is True
    assert tags_of(warning)["attempts"] == "1"
    assert tags_of(exhausted)["failure_reason"] == "exhausted"
    assert tags_of(exhausted)["attempts"] == "2"
    assert tags_of(exhausted)["executions"] == "2"
    assert warning["fingerprint"] == exhausted["fingerprint"]

    # log_arguments = False keeps the arguments out of the report.
    [secret_event] = _by_job(events, secret.job_id)
    assert "arguments" not in secret_event["contexts"]["active_job"]
    assert "hunter2" not in repr(secret_event["contexts"]["active_job"])

    # Nothing else: no copy from the Celery integration, no event made from a job's log line.
    # (Events unrelated to these jobs, e.g. a worker step failing at shutdown, are not counted.)
    ours = [event for event in events if _about_these_jobs(event)]
    assert len(ours) == 4
    assert all(exception_of(event)["mechanism"]["type"] == "activejob" for event in ours)
    assert not [event for event in ours if event.get("logger")]


def test_without_install_sentry_sends_its_own_copies_and_no_job_event(
    aj_app, aj_sentry_endpoint, aj_postruns, monkeypatch
):
    class PlainFailureJob(ApplicationJob):
        def perform(self):
            raise Oops("plain")

    with sentry_session(aj_sentry_endpoint, integrations=[CeleryIntegration()]):
        sentry_integration.uninstall()
        _bind_sentry_tracer(monkeypatch)
        with run_worker(aj_app):
            job = PlainFailureJob.perform_later()
            wait_for(lambda: job.provider_job_id in aj_postruns, timeout=20)
            events = flushed_events(aj_sentry_endpoint)

    # What sentry-sdk does on its own: events made from the job's ERROR log lines (the first
    # one carries the exception, so Dedupe then drops the Celery integration's copy), and no
    # event with the job's tags. install() is what replaces these with one tagged event.
    assert events
    assert {event.get("logger") for event in events} <= {"activejob_celery", FAILURE_LOGGER}
    assert not [event for event in events if "job_id" in tags_of(event)]


def test_a_failure_without_a_job_class_is_tagged_from_the_payload(aj_sentry_endpoint):
    payload = {
        "job_class": "shop.jobs.RemovedJob",
        "job_id": "0c5f2d7e-0000-4000-8000-000000000001",
        "provider_job_id": "celery-task-1",
        "queue_name": "mailers",
        "priority": None,
        "arguments": [1],
        "executions": 0,
    }
    error = LookupError("shop.jobs.RemovedJob")
    with sentry_session(aj_sentry_endpoint):
        sentry_integration.record_failure(payload, error, reason="unknown_job_class", job=None)
        sentry_integration.record_failure(payload, error, reason="unknown_job_class", job=None)
        events = flushed_events(aj_sentry_endpoint)
    [event] = events
    tags = tags_of(event)
    assert tags["job_class"] == "shop.jobs.RemovedJob"
    assert tags["queue"] == "mailers"
    assert tags["failure_reason"] == "unknown_job_class"
    assert event["fingerprint"] == ["activejob", "shop.jobs.RemovedJob", "LookupError"]
    assert event["contexts"]["active_job"]["arguments"] == [1]


WORKER_APP = """
import os

import sentry_sdk
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob
from activejob_celery.integrations import autoinstall

# The usual setup: sentry-sdk's defaults, which auto-enable its CeleryIntegration.
sentry_sdk.init(dsn=os.environ["AJ_SENTRY_DSN"], shutdown_timeout=5)

app = Celery("sentry_worker_app", broker=os.environ["AJ_BROKER_URL"])
app.conf.update(broker_connection_retry_on_startup=True, task_ignore_result=True)
activejob_celery.init_app(app)
assert autoinstall() == ["sentry"]


class BrokenJob(ApplicationJob):
    job_name = "sentry_worker_app.BrokenJob"

    def perform(self, number):
        raise RuntimeError(f"broken {number}")
"""


def test_a_celery_worker_with_sentry_defaults_reports_a_failure_once(
    aj_app, aj_redis, aj_sentry_endpoint, tmp_path
):
    (tmp_path / "sentry_worker_app.py").write_text(WORKER_APP)

    class BrokenJob(ApplicationJob):
        job_name = "sentry_worker_app.BrokenJob"

        def perform(self, number):
            raise AssertionError("runs in the worker process only")

    env = {"AJ_SENTRY_DSN": aj_sentry_endpoint.dsn, "AJ_BROKER_URL": aj_redis.url}
    with run_worker_subprocess("sentry_worker_app", cwd=tmp_path, env=env) as worker:
        worker.wait_ready()
        job = BrokenJob.perform_later(3)
        wait_for(aj_sentry_endpoint.events, timeout=30, message="an event from the worker")
        # Stopping the worker flushes its Sentry client: any late copy would arrive by now.
        assert worker.stop() == 0

    [event] = aj_sentry_endpoint.events()
    tags = tags_of(event)
    assert tags["job_id"] == job.job_id
    assert tags["failure_reason"] == "unhandled"
    assert tags["celery_task_id"] == job.provider_job_id  # the Celery integration was active
    assert exception_of(event)["value"] == "broken 3"
    assert exception_of(event)["mechanism"] == {"type": "activejob", "handled": False}
