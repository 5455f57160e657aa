"""Enqueuing: options, the enqueue callbacks around the adapter call, and ``retry_job``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

from . import signals
from .adapters import celery_app
from .callbacks import HALTED, run_callbacks
from .concurrency.gate import admit
from .config import current_settings
from .errors import ConfigurationError, EnqueueError
from .log_subscriber import enqueue_tags
from .timeouts import checked_seconds

if TYPE_CHECKING:
    from .adapters.base import QueueAdapter
    from .base import ApplicationJob

J = TypeVar("J", bound="ApplicationJob")

# --- enqueue after transaction commit (set by activejob_celery.contrib.transactions) ---
deferral: Callable[..., bool] | None = None
"""``deferral(job, bulk=False)``: True when ``job`` will be published at a commit instead."""


def apply_options(
    job: ApplicationJob,
    *,
    wait: float | timedelta | None = None,
    wait_until: datetime | None = None,
    queue: str | None = None,
    priority: int | None = None,
    unique: bool | None = None,
    timeout: float | timedelta | None = None,
) -> None:
    """Apply ``set(...)`` options; ``wait_until`` wins over ``wait`` (Rails).

    A naive ``wait_until`` is read in the app's time zone (:func:`naive_time_zone`).
    ``unique=False`` bypasses the class's ``unique(...)`` lock for this enqueue; ``timeout``
    replaces the class's ``timeout`` for this enqueue (and its retries and resumptions).
    """
    if unique is not None:
        job._skip_unique = not unique
    if timeout is not None:
        job._timeout = checked_seconds(timeout)
    if wait is not None:
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else wait
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ConfigurationError(f"wait={wait!r} must be seconds or a timedelta")
        job.scheduled_at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    if wait_until is not None:
        if not isinstance(wait_until, datetime):
            raise ConfigurationError(f"wait_until={wait_until!r} must be a datetime")
        if wait_until.tzinfo is None:
            wait_until = wait_until.replace(tzinfo=naive_time_zone(job))
        job.scheduled_at = wait_until
    if queue is not None:
        job.queue_name = queue
    if priority is not None:
        job.priority = int(priority)


def naive_time_zone(job: ApplicationJob) -> tzinfo:
    """The zone a naive ``wait_until`` is read in, as Celery reads a naive ``eta``.

    The app of the job's Celery adapter, else the app ``init_app`` set up, decides through
    Celery's ``timezone`` and ``enable_utc`` settings (``app.timezone``); without an app, UTC.

    Example:
        >>> app.conf.timezone = "Europe/Paris"                  # doctest: +SKIP
        >>> naive_time_zone(GuestsCleanupJob())                 # doctest: +SKIP
        zoneinfo.ZoneInfo(key='Europe/Paris')
    """
    try:
        app = getattr(job.adapter(), "app", None)
    except ConfigurationError:  # no adapter yet: enqueueing will say so
        app = None
    if app is None:
        app = celery_app()
    zone = getattr(app, "timezone", None)
    return zone if isinstance(zone, tzinfo) else timezone.utc


def enqueue(job: J, **options: Any) -> J | bool:
    """Run the enqueue callbacks around the adapter call; returns the job, or False if halted.

    With ``activejob_raise_on_enqueue_error`` on, a broker failure raises its ``EnqueueError``
    instead of returning the job with ``successfully_enqueued=False``.

    Example:
        >>> enqueue(GuestsCleanupJob(42), wait=60)               # doctest: +SKIP
    """
    result = _enqueue(job, **options)
    raise_enqueue_error([job])
    return result


def raise_enqueue_error(jobs: list[ApplicationJob]) -> None:
    """Raise the first job's ``enqueue_error`` when ``activejob_raise_on_enqueue_error`` is on.

    Example:
        >>> raise_enqueue_error([job])                          # doctest: +SKIP
        Traceback (most recent call last):
        activejob_celery.errors.EnqueueError: Error while publishing ...
    """
    if not current_settings().raise_on_enqueue_error:
        return
    for job in jobs:
        if job.enqueue_error is not None:
            raise job.enqueue_error


def _enqueue(job: J, *, defer: bool = True, **options: Any) -> J | bool:
    apply_options(job, **options)
    if defer and deferral is not None and deferral(job):
        return job  # published when the open transaction commits (contrib.transactions)
    return enqueue_now(job)


def enqueue_now(job: J) -> J | bool:
    """Run the enqueue callbacks around the adapter call now (options already applied)."""
    job.successfully_enqueued = False
    job.enqueue_error = None
    adapter = job.adapter()
    signal = signals.enqueue if job.scheduled_at is None else signals.enqueue_at
    with enqueue_tags(), signals.instrument(signal, job, adapter) as event:
        result = run_callbacks(
            job,
            type(job)._enqueue_callbacks,
            lambda: admit(job, adapter, lambda: hand_to_adapter(job, adapter)),
        )
        if result is HALTED:
            event.payload["aborted"] = True
    if job.successfully_enqueued or job.enqueue_error is not None:
        return job
    return False


def hand_to_adapter(job: ApplicationJob, adapter: QueueAdapter) -> None:
    """Call the adapter; an EnqueueError is recorded on the job instead of raised."""
    try:
        if job.scheduled_at is None:
            adapter.enqueue(job)
        else:
            adapter.enqueue_at(job, job.scheduled_at.timestamp())
    except EnqueueError as error:
        job.enqueue_error = error
    else:
        job.successfully_enqueued = True


def retry_job(
    job: J,
    *,
    wait: float | timedelta | None = None,
    wait_until: datetime | None = None,
    queue: str | None = None,
    priority: int | None = None,
    error: BaseException | None = None,
) -> J | bool:
    """Enqueue ``job`` again; its in-memory queue, priority and time are restored afterwards."""
    saved = (job.scheduled_at, job._queue_name, job._priority)
    if job.result_id is None:  # a result is stored under the first enqueue's task id
        job.result_id = job.provider_job_id
    seconds = wait.total_seconds() if isinstance(wait, timedelta) else wait
    job._retrying = True  # a worker's run publishes its retry under its own task id
    try:
        with signals.instrument(
            signals.enqueue_retry, job, job.adapter(), error=error, wait=seconds
        ):
            # A failed retry is the worker's to handle (rescue reads enqueue_error): never raised.
            result = _enqueue(
                job, defer=False, wait=wait, wait_until=wait_until, queue=queue, priority=priority
            )
            if job.successfully_enqueued:
                job._retried = (job.scheduled_at,)
            return result
    finally:
        job._retrying = False
        job.scheduled_at, job._queue_name, job._priority = saved
