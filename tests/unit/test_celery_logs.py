"""Celery's own log lines about jobs: one traceback per failure, no false "discarded"."""

from __future__ import annotations

import logging
import sys

from celery.worker.consumer.consumer import UNKNOWN_FORMAT, UNKNOWN_TASK_ERROR

from activejob_celery import celery_logs


def _record(logger: str, msg: str, args: tuple[object, ...], error: BaseException | None):
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord(logger, logging.ERROR, __file__, 1, msg, args, exc_info)


def _raised() -> BaseException:
    try:
        raise ValueError("order 42 is broken")
    except ValueError:
        return sys.exc_info()[1]  # type: ignore[return-value]


def test_celerys_failure_line_drops_a_traceback_the_job_already_logged() -> None:
    error = _raised()
    fmt = "Task %(name)s[%(id)s] %(description)s: %(exc)s"
    context = {"name": "BrokenJob", "id": "t1", "description": "raised unexpected", "exc": "E"}
    untouched = _record(celery_logs.TRACE_LOGGER, fmt, (context,), error)
    assert celery_logs.TracebackOnceFilter().filter(untouched)
    assert untouched.exc_info is not None  # not logged by the job: Celery's copy is the only one
    celery_logs.mark_traceback_logged(error)
    record = _record(celery_logs.TRACE_LOGGER, fmt, (context,), error)
    assert celery_logs.TracebackOnceFilter().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == (
        "Task BrokenJob[t1] raised unexpected: E (traceback in the job's 'Error performing' "
        "line above)"
    )


def test_a_kept_message_is_not_said_to_be_discarded() -> None:
    args = ("'billing.GoneJob'", "body", {"id": "t1"}, {})
    outside = _record(celery_logs.CONSUMER_LOGGER, UNKNOWN_TASK_ERROR, args, _raised())
    assert celery_logs.KeptMessageFilter().filter(outside)
    assert "ignored and discarded" in outside.getMessage()  # not ours: left alone
    with celery_logs.kept_as("t1", "unknown_job_class"):
        record = _record(celery_logs.CONSUMER_LOGGER, UNKNOWN_TASK_ERROR, args, _raised())
        assert celery_logs.KeptMessageFilter().filter(record)
        unknown = _record(celery_logs.CONSUMER_LOGGER, UNKNOWN_FORMAT, ("100%",), None)
        assert celery_logs.KeptMessageFilter().filter(unknown)
    text = record.getMessage()
    assert "ignored and discarded" not in text and record.exc_info is None
    assert "Received unregistered task of type 'billing.GoneJob'" in text
    assert "kept as dead letter t1 (reason unknown_job_class)" in text
    assert "Received and deleted" not in unknown.getMessage()
    assert "100%" in unknown.getMessage()


def test_install_adds_each_filter_once() -> None:
    celery_logs.install()
    celery_logs.install()
    for name, kind in ((celery_logs.TRACE_LOGGER, celery_logs.TracebackOnceFilter),
                       (celery_logs.CONSUMER_LOGGER, celery_logs.KeptMessageFilter)):  # fmt: skip
        assert sum(isinstance(f, kind) for f in logging.getLogger(name).filters) == 1
