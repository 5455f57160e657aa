"""The queue adapter contract (Rails' ``AbstractAdapter``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from ..errors import EnqueueError

if TYPE_CHECKING:
    from ..base import ApplicationJob


class QueueAdapter(ABC):
    """Where jobs go when they are enqueued.

    ``enqueue`` and ``enqueue_at`` raise :class:`~activejob_celery.EnqueueError` when the
    backend cannot take the job; the job records it. ``enqueue_all`` returns how many were taken.

    Example:
        >>> class PrintAdapter(QueueAdapter):
        ...     display_name = "Print"
        ...     def enqueue(self, job): print(job.serialize())
        ...     def enqueue_at(self, job, timestamp): print(timestamp, job.serialize())
    """

    display_name: ClassVar[str] = "Adapter"

    @abstractmethod
    def enqueue(self, job: ApplicationJob) -> None:
        """Take ``job`` to run as soon as possible; set ``job.provider_job_id``."""

    @abstractmethod
    def enqueue_at(self, job: ApplicationJob, timestamp: float) -> None:
        """Take ``job`` to run at ``timestamp`` (epoch seconds)."""

    def enqueue_all(self, jobs: list[ApplicationJob]) -> int:
        """Take many jobs; marks each job's outcome and returns the number taken."""
        taken = 0
        for job in jobs:
            try:
                if job.scheduled_at is None:
                    self.enqueue(job)
                else:
                    self.enqueue_at(job, job.scheduled_at.timestamp())
            except EnqueueError as error:
                job.enqueue_error = error
            else:
                job.successfully_enqueued = True
                taken += 1
        return taken

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
