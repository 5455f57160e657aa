"""The inline adapter: run the job at once, in the enqueuing process, through its payload."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..errors import EnqueueError
from .base import QueueAdapter

if TYPE_CHECKING:
    from ..base import ApplicationJob


class InlineAdapter(QueueAdapter):
    """Runs ``perform_later`` jobs immediately, after a payload round trip (Rails ``:inline``).

    Example:
        >>> class QuickJob(ApplicationJob):                    # doctest: +SKIP
        ...     queue_adapter = "inline"
    """

    display_name: ClassVar[str] = "Inline"

    def enqueue(self, job: ApplicationJob) -> None:
        """Run ``job`` now, through its payload."""
        # import here: cycle: execution imports this module
        from ..execution import execute

        execute(job.serialize())

    def enqueue_at(self, job: ApplicationJob, timestamp: float) -> None:
        """Refuse: inline jobs cannot wait."""
        raise EnqueueError(
            "The inline adapter cannot run jobs in the future; use the celery adapter "
            "(or the test adapter in tests) for set(wait=...) and retries"
        )
