"""The Celery task RedBeat entries call: it enqueues the recurring job stored under its key."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Task

from .config import RecurringJob
from .store import TASK_NAME, read_spec

logger = logging.getLogger(__name__)


class RecurringEnqueueTask(Task):  # type: ignore[misc]
    """``activejob_celery.recurring.enqueue(key)``: one firing of a recurring entry.

    The message carries only the entry key. The entry (class, arguments, queue, priority) is
    read from the spec stored beside the RedBeat entry, its class resolved through the job
    registry (nothing is imported), and the job enqueued with ``perform_later``: a fresh
    ``job_id`` each time, and the job's enqueue callbacks run. Like job tasks it acks late.

    Example:
        >>> app.tasks["activejob_celery.recurring.enqueue"].delay("nightly")   # doctest: +SKIP
    """

    name = TASK_NAME
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    serializer = "json"
    key_prefix: ClassVar[str] = "activejob:recurring:"

    def run(self, key: str) -> str | None:
        """Enqueue the job of entry ``key``; returns its ``job_id`` (None if nothing ran)."""
        job = enqueue_recurring(self.app, self.key_prefix, key)
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

    Example:
        >>> enqueue_recurring(app, "activejob:recurring:", "nightly").job_id   # doctest: +SKIP
    """
    spec = read_spec(app, key_prefix, key)
    if spec is None:
        return None
    recurring = RecurringJob.from_spec(spec)
    job = recurring.enqueue()
    if job is False:
        logger.info("Recurring job %r: a before_enqueue callback halted the run", key)
    else:
        logger.info(
            "Recurring job %r enqueued %s (Job ID: %s)", key, recurring.class_name, job.job_id
        )
    return job
