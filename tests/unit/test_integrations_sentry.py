"""The Sentry integration without a network: lazy import, no-op when idle, levels, copies dropped.

sentry-sdk is initialised with an in-memory transport, so the events it would send are the events
it builds, after every processor (its LoggingIntegration and DedupeIntegration included) ran.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from activejob_celery import ApplicationJob, failures, reporting, retry_on
from activejob_celery.integrations import autoinstall, sentry as sentry_integration


class MemoryTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        found = [envelope.get_event() for envelope in self.envelopes]
        return [event for event in found if event is not None]


@pytest.fixture
def aj_memory_sentry() -> Iterator[MemoryTransport]:
    transport = MemoryTransport()
    sentry_sdk.init(
        dsn="http://key@127.0.0.1:9/1", transport=transport, auto_enabling_integrations=False
    )
    sentry_integration.install()
    yield transport
    sentry_integration.uninstall()
    sentry_sdk.get_client().close(timeout=1)
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()


class Boom(Exception):
    pass


class ReportingJob(ApplicationJob):
    queue_adapter = "inline"

    def perform(self, order_id):
        raise Boom(f"order {order_id}")


def test_a_missing_sentry_sdk_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # what an uninstalled package looks like
    monkeypatch.delitem(sys.modules, "activejob_celery.integrations.sentry")
    with pytest.raises(ImportError, match=r"pip install 'activejob-celery\[sentry\]'"):
        importlib.import_module("activejob_celery.integrations.sentry")


def test_autoinstall_waits_for_the_app_to_import_sentry_sdk(monkeypatch):
    monkeypatch.delitem(sys.modules, "sentry_sdk")
    assert autoinstall() == []
    assert "sentry_sdk" not in sys.modules  # it did not import it either
    assert not sentry_integration.is_installed()
    monkeypatch.undo()
    try:
        assert autoinstall() == ["sentry"]
        assert sentry_integration.is_installed()
        assert sentry_integration.report in reporting._reporters
    finally:
        sentry_integration.uninstall()
    assert sentry_integration.report not in reporting._reporters
    assert sentry_integration.record_failure not in failures._recorders


def test_nothing_is_built_while_no_client_is_active(monkeypatch):
    built: list[Any] = []
    monkeypatch.setattr(
        sentry_integration, "event_from", lambda *a, **k: built.append(a) or ({}, {})
    )
    assert not sentry_sdk.get_client().is_active()
    sentry_integration.install()
    try:
        job = ReportingJob(1)
        reporting.report_error(Boom("x"), job=job, handled=True, level="info")
        failures.job_failed(job.serialize(), Boom("y"), reason="unhandled", job=job)
    finally:
        sentry_integration.uninstall()
    assert built == []


def test_levels_fingerprint_and_one_event_per_error(aj_memory_sentry):
    job = ReportingJob(5)
    error = Boom("once")
    reporting.report_error(error, job=job, handled=True, level="info")
    reporting.report_error(error, job=job, handled=True, level="warning")  # same object: skipped
    failures.job_failed(job.serialize(), error, reason="unhandled", job=job)
    reporting.report_error(Boom("other"), job=job, handled=False, level="catastrophic")
    events = aj_memory_sentry.events()
    assert [(event["level"], event["exception"]["values"][-1]["value"]) for event in events] == [
        ("info", "once"),
        ("error", "other"),  # an unknown level is sent as error
    ]
    assert events[0]["fingerprint"] == ["activejob", ReportingJob.job_name, f"{__name__}.Boom"]
    assert events[0]["tags"]["job_id"] == job.job_id
    assert events[0]["contexts"]["active_job"]["arguments"] == [5]


def test_the_jobs_own_log_lines_do_not_become_events(aj_memory_sentry):
    job_logger = logging.getLogger("activejob_celery")
    try:
        raise Boom("logged")
    except Boom as error:
        job_logger.error("[ActiveJob] [X] [1] Error performing X (Job ID: 1): Boom", exc_info=True)
        logged = error
    job_logger.error("[ActiveJob] [X] [1] Stopped retrying X (Job ID: 1) due to a Boom")
    job_logger.error("[ActiveJob] [X] [1] Discarded X (Job ID: 1) due to a Boom")
    failures.logger.error("Job failed for good (unhandled): Boom: logged")
    # Still reported: a line about something this integration does not report itself.
    job_logger.error("[ActiveJob] Failed enqueuing X to Celery(default): EnqueueError (down)")
    # The error the dropped line carried still reaches Sentry once, with the job context
    # (DedupeIntegration never saw the dropped copy, so it does not discard this one).
    sentry_integration.capture_job_error(logged, job=ReportingJob(1), level="error")
    events = aj_memory_sentry.events()
    assert [event.get("logger") for event in events] == ["activejob_celery", None]
    assert "Failed enqueuing" in events[0]["logentry"]["message"]
    assert events[1]["exception"]["values"][-1]["value"] == "logged"

    sentry_integration.uninstall()
    job_logger.error("[ActiveJob] [X] [1] Discarded X (Job ID: 1) due to a Boom")
    assert len(aj_memory_sentry.events()) == 3  # without the integration, Sentry keeps it


def test_a_failing_capture_never_breaks_the_failure_path(aj_memory_sentry, monkeypatch, caplog):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("sentry is confused")

    monkeypatch.setattr(sentry_integration, "capture_job_error", broken)
    job = ReportingJob(1)
    failures.job_failed(job.serialize(), Boom("x"), reason="unhandled", job=job)
    assert "Could not report a failed job to Sentry" in caplog.text


def test_arguments_follow_log_arguments(aj_settings):
    class TalkativeJob(ApplicationJob):
        log_arguments = True

        def perform(self, secret):
            pass

    aj_settings(log_arguments=False)
    assert "arguments" not in sentry_integration.job_context(ReportingJob("s3cret"))
    assert sentry_integration.job_context(TalkativeJob("s3cret"))["arguments"] == ["s3cret"]
    payload = {"job_class": "gone.Job", "job_id": "1", "arguments": ["s3cret"]}
    assert "arguments" not in sentry_integration.job_context(None, payload)
    aj_settings(log_arguments=True)
    assert sentry_integration.job_context(None, payload)["arguments"] == ["s3cret"]


def test_attempts_count_the_matching_retry_declaration():
    class Flaky(Exception):
        pass

    class CountingJob(ApplicationJob):
        retry_on(Flaky, attempts=3)

        def perform(self):
            pass

    job = CountingJob()
    job.executions = 4
    [handler] = CountingJob._rescue_handlers
    job.exception_executions = {handler.key: 2}
    context = sentry_integration.job_context(job, error=Flaky(), reason="exhausted")
    assert (context["attempts"], context["max_attempts"], context["executions"]) == (2, "3", 4)
    assert context["failure_reason"] == "exhausted"
    assert sentry_integration.job_context(job, error=KeyError())["attempts"] == 4


def test_an_unsupported_sentry_sdk_major_is_refused_with_one_warning(monkeypatch, caplog):
    from activejob_celery.integrations import sentry_versions

    monkeypatch.setattr(sentry_sdk, "VERSION", "3.0.0")
    monkeypatch.setattr(sentry_versions, "_warned", threading.Event())
    caplog.set_level(logging.WARNING, logger="activejob_celery.integrations.sentry")
    assert sentry_integration.install() is False
    assert autoinstall() == []
    assert not sentry_integration.is_installed()
    lines = [r.getMessage() for r in caplog.records]
    warnings = [line for line in lines if "sentry-sdk 2.x, not 3.0.0" in line]
    assert len(warnings) == 1 and "sentry-sdk<3" in warnings[0]
