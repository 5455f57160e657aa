"""The test adapter: records what is enqueued, and performs it when asked (Rails ``TestAdapter``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ..adapters.base import QueueAdapter

if TYPE_CHECKING:
    from ..base import ApplicationJob

JobFilter = type | list[type] | tuple[type, ...] | Callable[[Any], bool] | None


class TestAdapter(QueueAdapter):
    """Keeps enqueued jobs in ``enqueued_jobs``; with ``perform_enqueued_jobs`` on, runs them.

    A record is a dict of the payload keys plus ``job`` (the class), ``args`` and ``kwargs``
    (the arguments as given), ``queue``, ``priority`` and ``at`` (epoch seconds or None).

    Example:
        >>> adapter = TestAdapter()
        >>> GuestsCleanupJob.queue_adapter = adapter           # doctest: +SKIP
        >>> GuestsCleanupJob.perform_later(42)                 # doctest: +SKIP
        >>> adapter.enqueued_jobs[0]["args"]                   # doctest: +SKIP
        [42]
    """

    __test__ = False  # not a pytest test class
    display_name: ClassVar[str] = "Test"

    def __init__(self) -> None:
        self.enqueued_jobs: list[dict[str, Any]] = []
        self.performed_jobs: list[dict[str, Any]] = []
        self.perform_enqueued_jobs = False
        self.perform_enqueued_at_jobs = False
        self.filter: JobFilter = None
        self.reject: JobFilter = None
        self.queue: str | None = None
        self.at: float | None = None

    def enqueue(self, job: ApplicationJob) -> None:
        self._take(job, None)

    def enqueue_at(self, job: ApplicationJob, timestamp: float) -> None:
        self._take(job, timestamp)

    def _take(self, job: ApplicationJob, at: float | None) -> None:
        job.provider_job_id = str(uuid.uuid4())
        payload = job.serialize()
        record = self.record(job, payload, at)
        if self.should_perform(job, at):
            from ..execution import execute

            self.performed_jobs.append(record)
            execute(payload)
        else:
            self.enqueued_jobs.append(record)

    @staticmethod
    def record(job: ApplicationJob, payload: Any, at: float | None) -> dict[str, Any]:
        """The record kept for one enqueue."""
        return {
            **payload,
            "job": type(job),
            "args": list(job.arguments),
            "kwargs": dict(job.keyword_arguments),
            "queue": payload["queue_name"],
            "priority": payload["priority"],
            "at": at,
        }

    def should_perform(self, job: ApplicationJob, at: float | None) -> bool:
        """Whether a job enqueued now runs at once under the current flags and filters."""
        wanted = self.perform_enqueued_jobs if at is None else self.perform_enqueued_at_jobs
        if not wanted:
            return False
        if self.queue is not None and job.queue_name != self.queue:
            return False
        if self.filter is not None and not matches(self.filter, job):
            return False
        if self.reject is not None and matches(self.reject, job):
            return False
        return not (at is not None and self.at is not None and at > self.at)

    def clear(self) -> None:
        """Forget every recorded job."""
        self.enqueued_jobs.clear()
        self.performed_jobs.clear()


def matches(job_filter: JobFilter, subject: Any) -> bool:
    """Whether ``subject`` (a job or a record) passes ``job_filter`` (classes or a callable)."""
    if job_filter is None:
        return True
    job_class = subject["job"] if isinstance(subject, dict) else type(subject)
    if isinstance(job_filter, type):
        return job_class is job_filter
    if isinstance(job_filter, list | tuple):
        return job_class in job_filter
    return bool(job_filter(subject))
