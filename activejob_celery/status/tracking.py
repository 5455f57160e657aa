"""Status writes through a job's life: the app's store, a run's start and end, and its progress.

A run's progress is written at most once a second (:data:`INTERVAL`); a value held back is
written when the second is over, or with the run's outcome, so the last one always lands.
Each write also goes out as a Celery ``task-progress`` event (Flower and ``celery events``
consumers see it).

Example:
    >>> run = begin_run(job, task)                             # doctest: +SKIP
    >>> run.progress(50, 200, "Parsing"); run.end("succeeded")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..dead_letters.binding import settings_for
from ..errors import ConfigurationError
from ..runtime import app_part, drop_part, runtime_for
from ..scheduler import scheduled_set_for
from .store import StatusStore

if TYPE_CHECKING:
    from ..base import ApplicationJob

logger = logging.getLogger("activejob_celery.status")

INTERVAL = 1.0
"""Seconds between two progress writes of one job (at most one write per interval)."""
CANCELLED = "cancelled"
"""What :func:`begin_run` returns for a job whose cancel flag is set."""

_PART = "status.store"
"""Part of the app's runtime: its :class:`StatusStore` (None when tracking is off)."""


def status_store_for(app: Any) -> StatusStore | None:
    """The status store of ``app`` (the scheduled set's Redis), or None when tracking is off.

    Example:
        >>> status_store_for(app).read(job.job_id)             # doctest: +SKIP
    """
    store: StatusStore | None = app_part(app, _PART, lambda: _build(app))
    if store is not None:
        try:
            client = scheduled_set_for(app).client
        except ConfigurationError:
            return None
        if store.client is not client:  # init_app ran again: a new scheduled set
            store = runtime_for(app).parts[_PART] = _build(app)
    return store


def forget(app: Any) -> None:
    """Drop the cached store of ``app`` (``init_app`` calls this with new settings)."""
    drop_part(app, _PART)


def _build(app: Any) -> StatusStore | None:
    settings = settings_for(app)
    if not settings.track_status:
        return None
    try:
        client = scheduled_set_for(app).client
    except ConfigurationError:
        return None
    return StatusStore(client, settings)


class RunTracker:
    """One run of a job in a worker: its progress (throttled) and its outcome.

    Example:
        >>> job._status_run.progress(10, 100)                   # doctest: +SKIP
    """

    def __init__(self, store: StatusStore, job: ApplicationJob, task: Any) -> None:
        self.store = store
        self.job_id = job.job_id
        self.task = task
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}
        self._last = float("-inf")
        self._timer: threading.Timer | None = None
        self._ended = False

    def progress(self, done: Any, total: Any = None, message: Any = None) -> None:
        """Record progress; written now, or within a second (the last value always lands)."""
        fields: dict[str, str] = {"done": repr(done)}
        if total is not None:
            fields["total"] = repr(total)
        if message is not None:
            fields["message"] = str(message)
        self.note(fields)

    def note(self, fields: dict[str, str]) -> None:
        """Record fields of the run (progress, a continuation's step and cursor), throttled.

        Written now, or within a second; the last value always lands with the outcome.

        Example:
            >>> job._status_run.note({"step": "process", "cursor": "433"})   # doctest: +SKIP
        """
        with self._lock:
            if self._ended:
                return
            self._pending.update(fields)
            wait = self._last + INTERVAL - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._flush_later)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._write_locked()

    def end(self, status: str) -> str | None:
        """Write the run's outcome with any progress held back; returns the status written."""
        fields = self.close()
        try:
            return self.store.end(self.job_id, status, fields)
        except Exception as problem:  # the outcome stands; only its display is missing
            logger.warning("Could not write status %s of job %s: %s", status, self.job_id, problem)
            return None

    def close(self) -> dict[str, str]:
        """End the run's progress writes; returns the progress held back (for the outcome).

        Example:
            >>> run.close()                                     # doctest: +SKIP
            {'done': '200'}
        """
        with self._lock:
            self._ended = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            fields, self._pending = self._pending, {}
        return fields

    def _flush_later(self) -> None:
        with self._lock:
            self._timer = None
            if not self._ended and self._pending:
                self._write_locked()

    def _write_locked(self) -> None:
        fields, self._pending = self._pending, {}
        self._last = time.monotonic()
        try:
            self.store.progress(self.job_id, fields)
        except Exception as problem:
            logger.warning("Could not write the progress of job %s: %s", self.job_id, problem)
        self._send_event(fields)

    def _send_event(self, fields: dict[str, Any]) -> None:
        try:
            self.task.send_event("task-progress", job_id=self.job_id, **fields, retry=False)
        except Exception as problem:  # an event is for monitors: never a reason to fail
            logger.debug("Could not send task-progress of job %s: %s", self.job_id, problem)


def begin_run(job: ApplicationJob, task: Any) -> RunTracker | str | None:
    """Mark the run of ``job`` started; :data:`CANCELLED` when it must not run.

    None when status tracking is off for the app (or its store cannot be reached: the job
    runs, and a WARNING says why its status is not kept).
    """
    store = status_store_for(task.app)
    if store is None:
        return None
    worker = str(getattr(task.request, "hostname", None) or "")
    try:
        started = store.start(
            job.job_id, worker=worker, job_class=job.job_name, queue=job.queue_name
        )
    except Exception as problem:
        logger.warning("Could not check or write the status of job %s: %s", job.job_id, problem)
        return None
    if not started:
        logger.info(
            "Cancelled job %s (job_id %s) not run: it was cancelled before it started",
            job.job_name, job.job_id,
        )  # fmt: skip
        return CANCELLED
    run = RunTracker(store, job, task)
    job._status_run = run
    return run


def mark_ended(app: Any, job_id: str, status: str) -> None:
    """Write the outcome of a run that ended outside its task (a hard time limit killed it).

    Example:
        >>> mark_ended(task.app, job_id, "dead")                # doctest: +SKIP
    """
    store = status_store_for(app)
    if store is None:
        return
    try:
        store.end(job_id, status)
    except Exception as problem:
        logger.warning("Could not write status %s of job %s: %s", status, job_id, problem)


def outcome_of(job: ApplicationJob, result: Any) -> str:
    """The status a run ends with, from what ``perform_now`` returned.

    Example:
        >>> outcome_of(job, "ok")                               # doctest: +SKIP
        'succeeded'
    """
    if getattr(job, "_continuation_interrupted", False):
        return "interrupted"  # stopped at a checkpoint (a cancelled one ends "cancelled")
    if job._retried is not None:
        return "retrying"
    if isinstance(result, BaseException):
        if job.successfully_enqueued:
            return "retrying"
        if job.failure_reason in ("discarded", "exhausted"):
            return "discarded"
    return "succeeded"
