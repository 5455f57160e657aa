"""The Celery task RedBeat entries call: it enqueues the recurring job stored under its key."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Task
from celery.exceptions import Reject

from ..errors import EnqueueError
from ..failures import job_failed
from .config import RecurringJob
from .store import TASK_NAME, read_spec

logger = logging.getLogger(__name__)


class RecurringEnqueueTask(Task):  # type: ignore[misc]
    """``activejob_celery.recurring.enqueue(key)``: one firing of a recurring entry.

    The message carries only the entry key. The entry (class, arguments, queue, priority) is
    read from the spec stored beside the RedBeat entry, its class resolved through the job
    registry (nothing is imported), and the job enqueued with ``perform_later``: a fresh
    ``job_id`` each time, and the job's enqueue callbacks run. Like job tasks it acks late.

    A run whose enqueue fails is an error of this task, never a success: it is retried
    ``max_retries`` times (after ``default_retry_delay`` seconds, doubling), then the job it
    could not enqueue becomes an ``exhausted`` dead letter, which ``jobs dead retry`` enqueues.

    Example:
        >>> app.tasks["activejob_celery.recurring.enqueue"].delay("nightly")   # doctest: +SKIP
    """

    name = TASK_NAME
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    serializer = "json"
    max_retries = 3
    default_retry_delay = 5
    key_prefix: ClassVar[str] = "activejob:recurring:"

    def run(self, key: str) -> str | None:
        """Enqueue the job of entry ``key``; returns its ``job_id`` (None if nothing ran).

        Raises:
            RecurringEnqueueError: the job could not be enqueued and no retry is left.
        """
        try:
            job = enqueue_recurring(self.app, self.key_prefix, key)
        except RecurringEnqueueError as error:
            retries = int(self.request.retries or 0)
            if retries < (self.max_retries or 0):
                delay = float(self.default_retry_delay or 0) * 2**retries
                try:
                    raise self.retry(exc=error, countdown=delay)
                except Reject:  # Celery could not publish the retry either: keep the run
                    pass
            job_failed(error.job.serialize(), error, reason="exhausted", job=error.job)
            raise
        if job is None:
            logger.warning("Recurring job %r is not scheduled any more; nothing enqueued", key)
        return None if job is None or job is False else str(job.job_id)


def register(app: Any, key_prefix: str) -> Any:
    """Register the firing task on ``app`` (idempotent), reading entries under ``key_prefix``."""
    existing = app.tasks.get(TASK_NAME)
    if existing is not None and getattr(existing, "key_prefix", None) == key_prefix:
        return existing
    task_class = type("RecurringEnqueueTask", (RecurringEnqueueTask,), {"key_prefix": key_prefix})
    return app.register_task(task_class())


def enqueue_recurring(app: Any, key_prefix: str, key: str) -> Any:
    """Enqueue one run of the stored entry ``key`` now; None when no such entry exists.

    Raises:
        UnknownJobClassError: the stored class is not registered in this process.
        RecurringEnqueueError: the job could not be enqueued (logged as an ERROR).

    Example:
        >>> enqueue_recurring(app, "activejob:recurring:", "nightly").job_id   # doctest: +SKIP
    """
    spec = read_spec(app, key_prefix, key)
    if spec is None:
        return None
    recurring = RecurringJob.from_spec(spec)
    try:
        job = recurring.enqueue()
    except EnqueueError as error:  # activejob_raise_on_enqueue_error is on
        job = getattr(error, "job", None)
        job = job or recurring.job_class(*recurring.args, **recurring.kwargs)
        failure = error
    else:
        if job is False:
            logger.info("Recurring job %r: a before_enqueue callback halted the run", key)
            return job
        if job.successfully_enqueued:
            logger.info(
                "Recurring job %r enqueued %s (Job ID: %s)", key, recurring.class_name, job.job_id
            )
            return job
        failure = job.enqueue_error or EnqueueError("the adapter did not take the job")
    logger.error(
        "Recurring job %r could not enqueue %s (Job ID: %s): %s",
        key, recurring.class_name, job.job_id, failure,
    )  # fmt: skip
    raise RecurringEnqueueError(key, job, failure) from failure


class RecurringEnqueueError(EnqueueError):
    """One run of a recurring entry could not be enqueued; ``job`` is the job that was not.

    Example:
        >>> try:                                                   # doctest: +SKIP
        ...     enqueue_recurring(app, "activejob:recurring:", "nightly")
        ... except RecurringEnqueueError as error:
        ...     error.job.job_id
        '1b9d6bcd-...'
    """

    def __init__(self, key: str, job: Any, cause: BaseException) -> None:
        super().__init__(f"recurring job {key!r} could not enqueue {job.job_name}: {cause}")
        self.key = key
        self.job = job
