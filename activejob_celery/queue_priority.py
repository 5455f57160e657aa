"""``queue_with_priority``: a job's priority, and how it maps onto Celery's 0-9 scale.

A lower number runs first, as in Solid Queue, GoodJob and kombu's Redis transport.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .config import current_settings
from .declaration import Declaration, collect
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .base import ApplicationJob

PrioritySource = TypeVar("PrioritySource", bound="int | Callable[..., Any] | None")

CELERY_PRIORITY_MIN = 0
CELERY_PRIORITY_MAX = 9


class QueueWithPriority(Declaration):
    """The recorded form of ``queue_with_priority(...)``."""

    def __init__(self, source: int | Callable[..., Any] | None) -> None:
        self.usage = f"queue_with_priority({source!r})"
        if isinstance(source, bool) or not (
            source is None or isinstance(source, int) or callable(source)
        ):
            raise ConfigurationError(f"{self.usage}: give an integer, a callable or decorate")
        self.source = source

    def apply(self, job_class: type[ApplicationJob]) -> None:
        """Record this declaration on ``job_class``."""
        job_class._priority_source = self.source


def queue_with_priority(source: PrioritySource) -> PrioritySource:
    """Set the job's priority; lower runs first (Rails ``queue_with_priority``).

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     queue_with_priority(5)
    """
    collect(QueueWithPriority(source))
    return source


def resolve_priority(job: ApplicationJob) -> int | None:
    """Evaluate the class's priority source for ``job``."""
    source = type(job)._priority_source
    if source is None:
        return current_settings().default_priority
    return source(job) if callable(source) else source


def celery_priority(priority: int | None) -> int | None:
    """Map a job priority onto Celery's Redis scale: clamped to 0 (first) .. 9 (last).

    Example:
        >>> celery_priority(0), celery_priority(5), celery_priority(50), celery_priority(-3)
        (0, 5, 9, 0)
    """
    if priority is None:
        return None
    return min(max(int(priority), CELERY_PRIORITY_MIN), CELERY_PRIORITY_MAX)
