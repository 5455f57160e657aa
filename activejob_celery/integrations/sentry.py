"""Sentry reporting for jobs: handled reports and failures, each error sent to Sentry once.

``install()`` connects two hooks. The error reporter receives what ``retry_on(..., report=True)``,
``discard_on(..., report=True)`` and the SMTP mixin report, at the level they ask for. The failure
recorder receives every job that fails for good in a worker (retries exhausted, unhandled error,
undecodable arguments, unknown job class). Each event carries the job's tags and an
``active_job`` context, and is grouped per job class and error class.

Sentry's own integrations would report the same failures again: ``CeleryIntegration`` captures
the exception leaving the task, and ``LoggingIntegration`` turns the job's ERROR log lines into
events. An error processor drops those copies, so with or without ``CeleryIntegration`` every
error arrives exactly once, with the job context. Nothing is sent, and almost nothing is done,
while no Sentry client is active.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Final, cast

try:
    import sentry_sdk
    from sentry_sdk.scope import add_global_event_processor
except ImportError as missing:
    raise ImportError(
        "activejob_celery.integrations.sentry needs sentry-sdk, which is not installed: "
        "pip install 'activejob-celery[sentry]'"
    ) from missing

from .. import celery_logs, failures, reporting
from ..config import current_settings
from ..rescue import RetryOn, find_handler
from .sentry_versions import event_from, supported

if TYPE_CHECKING:
    from sentry_sdk._types import Event, ExcInfo, Hint, LogLevelStr

    from ..base import ApplicationJob

__all__ = ["capture_job_error", "install", "is_installed", "job_context", "uninstall"]

logger = logging.getLogger(__name__)

LEVELS: Final = ("fatal", "error", "warning", "info", "debug")
"""The levels Sentry knows; any other level is sent as ``error``."""
MECHANISM: Final = "activejob"
_SENT_MARK: Final = "__activejob_sentry_event_id__"
# Log lines that describe a job error this integration already reports with full context.
_JOB_LOGGER: Final = "activejob_celery"
_FAILURE_LOGGER: Final = failures.logger.name
_JOB_ERROR_LINES: Final = ("Error performing ", "Stopped retrying ", "Discarded ")


class _State:
    installed = False
    processors_added = False


_state = _State()
_lock = threading.Lock()


def install() -> bool:
    """Report job errors to Sentry from now on (idempotent; safe before ``sentry_sdk.init``).

    Returns False, with one WARNING, on a sentry-sdk this integration does not support (3.x):
    job errors then reach Sentry through Sentry's own integrations only.

    Example:
        >>> import sentry_sdk                                  # doctest: +SKIP
        >>> sentry_sdk.init(dsn="https://key@o0.ingest.sentry.io/1")   # doctest: +SKIP
        >>> from activejob_celery.integrations import sentry  # doctest: +SKIP
        >>> sentry.install()                                   # doctest: +SKIP
    """
    if not supported(sentry_sdk):
        return False
    with _lock:
        if not _state.processors_added:
            # Error processors run before every event processor, DedupeIntegration's included,
            # so a copy is dropped before it can make Dedupe discard the real event.
            sentry_sdk.get_global_scope().add_error_processor(_drop_duplicate_error)
            add_global_event_processor(_drop_job_log_event)
            _state.processors_added = True
        reporting.add_error_reporter(report)
        failures.add_failure_recorder(record_failure)
        _state.installed = True
    return True


def uninstall() -> None:
    """Stop reporting; Sentry's own integrations report as if this module were never used.

    Example:
        >>> uninstall()                                        # doctest: +SKIP
    """
    with _lock:
        reporting.remove_error_reporter(report)
        failures.remove_failure_recorder(record_failure)
        _state.installed = False


def is_installed() -> bool:
    """Whether :func:`install` is in effect.

    Example:
        >>> is_installed()                                     # doctest: +SKIP
        True
    """
    return _state.installed


def report(
    error: BaseException,
    *,
    job: ApplicationJob,
    handled: bool,
    level: str = "error",
    context: dict[str, Any] | None = None,
) -> None:
    """The error reporter (see :func:`activejob_celery.reporting.add_error_reporter`).

    Example:
        >>> report(error, job=job, handled=True, level="warning")   # doctest: +SKIP
    """
    if _state.installed and sentry_sdk.get_client().is_active():
        capture_job_error(error, job=job, level=level, handled=handled, extra=context)


def record_failure(
    payload: Any, error: BaseException, *, reason: str, job: ApplicationJob | None
) -> None:
    """The failure recorder: a job failed for good in a worker; never raises.

    Example:
        >>> record_failure(payload, error, reason="unhandled", job=job)   # doctest: +SKIP
    """
    if not (_state.installed and sentry_sdk.get_client().is_active()):
        return
    try:
        capture_job_error(error, job=job, payload=payload, reason=reason)
    except Exception:
        # A recorder that raises would change how the task fails; reporting must not.
        logger.exception("Could not report a failed job to Sentry")


def capture_job_error(
    error: BaseException,
    *,
    job: ApplicationJob | None = None,
    payload: Any = None,
    level: str = "error",
    handled: bool = False,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str | None:
    """Send ``error`` with the job's tags, context and fingerprint, once per error object.

    Returns:
        The Sentry event id, or None when no client is active or ``error`` was sent already.

    Example:
        >>> capture_job_error(error, job=job, level="info", handled=True)   # doctest: +SKIP
        'c0ffee...'
    """
    client = sentry_sdk.get_client()
    if not client.is_active() or getattr(error, _SENT_MARK, None) is not None:
        return None
    details = job_context(job, payload, error=error, reason=reason)
    event, hint = event_from(error, client, {"type": MECHANISM, "handled": handled})
    chosen = cast("LogLevelStr", level if level in LEVELS else "error")
    event["level"] = chosen
    event["fingerprint"] = ["activejob", str(details["job_class"]), _qualified(type(error))]
    event["transaction"] = str(details["job_class"])
    with sentry_sdk.new_scope() as scope:
        scope.set_level(chosen)
        scope.set_tags(_tags(details))
        scope.set_context("active_job", details)
        for key, value in (extra or {}).items():
            scope.set_extra(key, value)
        event_id = scope.capture_event(event, hint=hint)
    try:
        setattr(error, _SENT_MARK, event_id or "")
    except (AttributeError, TypeError):
        logger.debug("Cannot mark %r as reported; Sentry may report it again", error)
    return event_id


def job_context(
    job: ApplicationJob | None,
    payload: Any = None,
    *,
    error: BaseException | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The ``active_job`` context; arguments only when ``log_arguments`` allows them.

    ``attempts`` counts the executions of the ``retry_on`` declaration that handles ``error``
    (Rails' per-declaration counter), else every execution of the job.

    Example:
        >>> job_context(job)["job_id"]                        # doctest: +SKIP
        '1f0c...'
    """
    if job is None:
        data = payload if isinstance(payload, dict) else {}
        details: dict[str, Any] = {
            key: data.get(key)
            for key in ("job_class", "job_id", "provider_job_id", "queue_name", "priority")
        }
        details["job_class"] = details["job_class"] or "unknown"
        details["executions"] = data.get("executions")
        details["attempts"] = data.get("executions")
        if current_settings().log_arguments and "arguments" in data:
            details["arguments"] = data["arguments"]
    else:
        details = {
            "job_class": job.job_name,
            "job_id": job.job_id,
            "provider_job_id": job.provider_job_id,
            "queue_name": job.queue_name,
            "priority": job.priority,
            "executions": job.executions,
            "exception_executions": dict(job.exception_executions),
            "attempts": job.executions,
            "locale": job.locale,
            "timezone": job.timezone,
            "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
            "scheduled_at": job.scheduled_at.isoformat() if job.scheduled_at else None,
        }
        found = find_handler(type(job)._rescue_handlers, error) if error is not None else None
        if found is not None and isinstance(found[0], RetryOn):
            details["attempts"] = job.exception_executions.get(found[0].key, 0)
            details["max_attempts"] = repr(found[0].attempts)
        if _arguments_allowed(job):
            details["arguments"] = _arguments(job)
    if reason is not None:
        details["failure_reason"] = reason
    return details


def _arguments_allowed(job: ApplicationJob) -> bool:
    allowed = type(job).log_arguments
    return current_settings().log_arguments if allowed is None else bool(allowed)


def _arguments(job: ApplicationJob) -> Any:
    try:
        return job.serialized_arguments()
    except Exception:
        # perform may have replaced an argument with something the encoder cannot take.
        return [repr(value) for value in job.arguments] + [
            f"{name}={value!r}" for name, value in job.keyword_arguments.items()
        ]


def _tags(details: dict[str, Any]) -> dict[str, str]:
    names = {
        "job_class": "job_class",
        "job_id": "job_id",
        "queue_name": "queue",
        "executions": "executions",
        "attempts": "attempts",
        "provider_job_id": "provider_job_id",
        "failure_reason": "failure_reason",
    }
    return {tag: str(details[key]) for key, tag in names.items() if details.get(key) is not None}


def _qualified(cls: type) -> str:
    name = cls.__qualname__
    return name if cls.__module__ == "builtins" else f"{cls.__module__}.{name}"


def _is_job_log_event(event: Event) -> bool:
    name = event.get("logger")
    if name == _FAILURE_LOGGER:
        return True
    if name == celery_logs.TRACE_LOGGER:  # Celery's failure line, its traceback left out for ours
        return celery_logs.TRACEBACK_NOTE in str((event.get("logentry") or {}).get("message"))
    if name != _JOB_LOGGER:
        return False
    message = str((event.get("logentry") or {}).get("message") or "")
    return any(line in message for line in _JOB_ERROR_LINES)


def _drop_duplicate_error(event: Event, exc_info: ExcInfo) -> Event | None:
    sent = getattr(exc_info[1], _SENT_MARK, None) is not None
    return None if _state.installed and (sent or _is_job_log_event(event)) else event


def _drop_job_log_event(event: Event, hint: Hint) -> Event | None:
    return None if _state.installed and _is_job_log_event(event) else event
