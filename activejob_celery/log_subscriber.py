"""Rails-format log lines for every job signal, and the log tags of a running job.

Lines go to the ``activejob_celery`` logger, prefixed with Rails' tags: ``[ActiveJob]`` for
enqueues and ``[ActiveJob] [GuestsCleanupJob] [<job id>]`` while a job runs. ``attach()`` is
called by ``init_app``; ``detach()`` silences it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import celery_logs, signals
from .config import current_settings
from .global_id import Identifiable

if TYPE_CHECKING:
    from .base import ApplicationJob

logger = logging.getLogger("activejob_celery")

_tags: ContextVar[tuple[str, ...]] = ContextVar("activejob_tags", default=())
_current_job: ContextVar[ApplicationJob | None] = ContextVar("activejob_current_job", default=None)


def current_job() -> ApplicationJob | None:
    """The job running in this context (Rails ``ExecutionContext[:job]``), or None.

    Example:
        >>> current_job() is None
        True
    """
    return _current_job.get()


@contextmanager
def tagged(job: ApplicationJob) -> Iterator[None]:
    """Tag log lines with the job class and id while ``job`` runs."""
    outer = _tags.get()
    tags = (*(outer or ("ActiveJob",)), type(job).__qualname__, job.job_id)
    tags_token, job_token = _tags.set(tags), _current_job.set(job)
    try:
        yield
    finally:
        _tags.reset(tags_token)
        _current_job.reset(job_token)


@contextmanager
def enqueue_tags() -> Iterator[None]:
    """Tag enqueue lines ``[ActiveJob]`` unless a running job's tags already apply."""
    if _tags.get():
        yield
        return
    token = _tags.set(("ActiveJob",))
    try:
        yield
    finally:
        _tags.reset(token)


def _log(level: int, message: str, *args: Any, **kwargs: Any) -> None:
    prefix = "".join(f"[{tag}] " for tag in _tags.get())
    logger.log(level, prefix + message, *args, **kwargs)


def _where(job: ApplicationJob, adapter: Any) -> str:
    return f"{getattr(adapter, 'display_name', type(adapter).__name__)}({job.queue_name})"


def _error(error: BaseException) -> str:
    return f"{type(error).__qualname__} ({error})"


def format_arguments(job: ApplicationJob) -> str:
    """`` with arguments: 42, notify=True`` or "" (no arguments, or ``log_arguments`` off)."""
    enabled = type(job).log_arguments
    if enabled is None:
        enabled = current_settings().log_arguments
    if not enabled or not (job.arguments or job.keyword_arguments):
        return ""
    parts = [_inspect(value) for value in job.arguments]
    parts += [f"{name}={_inspect(value)}" for name, value in job.keyword_arguments.items()]
    return " with arguments: " + ", ".join(parts)


def _inspect(value: Any) -> str:
    if isinstance(value, Identifiable):
        return str(value.to_global_id())
    if isinstance(value, list):
        return "[" + ", ".join(_inspect(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_inspect(item)}" for key, item in value.items()) + "}"
    return repr(value)


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def on_enqueue(
    sender: type,
    job: ApplicationJob,
    adapter: Any,
    exception: BaseException | None,
    aborted: bool,
    **extra: Any,
) -> None:
    """``Enqueued X (Job ID: ..) to Celery(default) [at ...]`` or the matching failure line."""
    if not logger.isEnabledFor(logging.INFO):
        return
    name, where = type(job).__qualname__, _where(job, adapter)
    failure = exception or job.enqueue_error
    if failure is not None:
        _log(logging.ERROR, "Failed enqueuing %s to %s: %s", name, where, _error(failure))
    elif aborted:
        _log(
            logging.INFO,
            "Failed enqueuing %s to %s, a before_enqueue callback halted the enqueuing execution.",
            name,
            where,
        )
    elif job.successfully_enqueued:
        when = ""
        if job.scheduled_at is not None:
            when = " at " + _utc(job.scheduled_at).strftime("%Y-%m-%d %H:%M:%S UTC")
        _log(
            logging.INFO,
            "Enqueued %s (Job ID: %s) to %s%s%s",
            name,
            job.job_id,
            where,
            when,
            format_arguments(job),
        )


def on_enqueue_all(sender: type, jobs: list[ApplicationJob], adapter: Any, **extra: Any) -> None:
    """``Enqueued 2 jobs to Celery (2 GuestsCleanupJob)``, with failures counted."""
    done = [job for job in jobs if job.successfully_enqueued]
    failed = len(jobs) - len(done)
    adapter_name = getattr(adapter, "display_name", type(adapter).__name__)
    if not done:
        _log(logging.INFO, "Failed enqueuing %s to %s", _count(failed), adapter_name)
        return
    by_class: dict[str, int] = {}
    for job in done:
        by_class[type(job).__qualname__] = by_class.get(type(job).__qualname__, 0) + 1
    classes = ", ".join(
        f"{count} {name}" for name, count in sorted(by_class.items(), key=lambda i: -i[1])
    )
    tail = f". Failed enqueuing {_count(failed)}" if failed else ""
    _log(logging.INFO, "Enqueued %s to %s (%s)%s", _count(len(done)), adapter_name, classes, tail)


def _count(n: int) -> str:
    return f"{n} job" if n == 1 else f"{n} jobs"


def on_perform_start(sender: type, job: ApplicationJob, adapter: Any, **extra: Any) -> None:
    """``Performing X (Job ID: ..) from Celery(default) enqueued at ... with arguments: ...``."""
    if not logger.isEnabledFor(logging.INFO):
        return
    enqueued = ""
    if job.enqueued_at is not None:
        enqueued = " enqueued at " + _utc(job.enqueued_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _log(
        logging.INFO,
        "Performing %s (Job ID: %s) from %s%s%s",
        type(job).__qualname__,
        job.job_id,
        _where(job, adapter),
        enqueued,
        format_arguments(job),
    )


def on_perform(
    sender: type,
    job: ApplicationJob,
    adapter: Any,
    duration: float,
    exception: BaseException | None,
    aborted: bool,
    **extra: Any,
) -> None:
    """``Performed X (Job ID: ..) from Celery(default) in 12.34ms``, or the error line."""
    name, where = type(job).__qualname__, _where(job, adapter)
    if exception is not None:
        if logger.isEnabledFor(logging.ERROR):  # Celery's failure line then leaves it out
            celery_logs.mark_traceback_logged(exception)
        _log(
            logging.ERROR,
            "Error performing %s (Job ID: %s) from %s in %.2fms: %s:",
            name,
            job.job_id,
            where,
            duration,
            _error(exception),
            exc_info=(type(exception), exception, exception.__traceback__),
        )
    elif aborted:
        _log(
            logging.ERROR,
            "Error performing %s (Job ID: %s) from %s in %.2fms: a before_perform "
            "callback halted the job execution",
            name,
            job.job_id,
            where,
            duration,
        )
    elif logger.isEnabledFor(logging.INFO):
        _log(
            logging.INFO,
            "Performed %s (Job ID: %s) from %s in %.2fms",
            name,
            job.job_id,
            where,
            duration,
        )


def on_enqueue_retry(
    sender: type, job: ApplicationJob, error: BaseException | None, wait: float | None, **extra: Any
) -> None:
    """``Retrying X (Job ID: ..) after 1 attempts in 3 seconds, due to a TimeoutError (...).``."""
    due = f", due to a {_error(error)}." if error is not None else "."
    _log(
        logging.INFO,
        "Retrying %s (Job ID: %s) after %d attempts in %d seconds%s",
        type(job).__qualname__,
        job.job_id,
        job.executions,
        int(wait or 0),
        due,
    )


def on_retry_stopped(sender: type, job: ApplicationJob, error: BaseException, **extra: Any) -> None:
    """``Stopped retrying X (Job ID: ..) due to a E (msg), which reoccurred on 5 attempts.``."""
    _log(
        logging.ERROR,
        "Stopped retrying %s (Job ID: %s) due to a %s, which reoccurred on %d attempts.",
        type(job).__qualname__,
        job.job_id,
        _error(error),
        job.executions,
    )


def on_discard(
    sender: type, job: ApplicationJob, error: BaseException | None, **extra: Any
) -> None:
    """``Discarded X (Job ID: ..) due to a E (msg).``."""
    due = f" due to a {_error(error)}." if error is not None else "."
    _log(logging.ERROR, "Discarded %s (Job ID: %s)%s", type(job).__qualname__, job.job_id, due)


_RECEIVERS = (
    (signals.enqueue, on_enqueue),
    (signals.enqueue_at, on_enqueue),
    (signals.enqueue_all, on_enqueue_all),
    (signals.perform_start, on_perform_start),
    (signals.perform, on_perform),
    (signals.enqueue_retry, on_enqueue_retry),
    (signals.retry_stopped, on_retry_stopped),
    (signals.discard, on_discard),
)

extra_receivers: list[tuple[Any, Any]] = []
"""``(signal, receiver)`` pairs a feature adds (continuations); attached and detached with these."""


def attach() -> None:
    """Connect the log lines to the signals, filter Celery's own lines (idempotent).

    Example:
        >>> attach()
    """
    celery_logs.install()
    for signal, receiver in (*_RECEIVERS, *extra_receivers):
        signal.connect(
            receiver,
            weak=False,
            dispatch_uid=f"activejob_celery.log.{receiver.__name__}.{signal.name}",
        )


def detach() -> None:
    """Disconnect the log lines."""
    for signal, receiver in (*_RECEIVERS, *extra_receivers):
        signal.disconnect(
            receiver, dispatch_uid=f"activejob_celery.log.{receiver.__name__}.{signal.name}"
        )
