"""``queue_as``: a job's queue, static or computed from the job, with the configured prefix."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .config import current_settings
from .declaration import Declaration, collect
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .base import ApplicationJob

QueueSource = TypeVar("QueueSource", bound="str | Callable[..., Any] | None")


class QueueAs(Declaration):
    """The recorded form of ``queue_as(...)``."""

    def __init__(self, source: str | Callable[..., Any] | None) -> None:
        self.usage = f"queue_as({source!r})"
        if source is not None and not isinstance(source, str) and not callable(source):
            raise ConfigurationError(f"{self.usage}: give a queue name, a callable or decorate")
        self.source = source

    def apply(self, job_class: type[ApplicationJob]) -> None:
        """Record this declaration on ``job_class``."""
        job_class._queue_name_source = self.source


def queue_as(source: QueueSource) -> QueueSource:
    """Set the queue the job is enqueued on (Rails ``queue_as``).

    A string is used as is (after the ``activejob_queue_name_prefix``); a callable or decorated
    method is called with the job at enqueue time, so it can look at the job's arguments.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     queue_as("low_priority")
        >>> class ReportJob(ApplicationJob):                   # doctest: +SKIP
        ...     @queue_as
        ...     def queue(self):
        ...         return "urgent" if self.arguments[0].vip else "default"
    """
    collect(QueueAs(source))
    return source


def queue_name_from_part(part: str | None) -> str:
    """Apply the prefix rule: ``prefix + delimiter + part`` when a prefix is set (Rails)."""
    settings = current_settings()
    name = settings.default_queue_name if part is None else str(part)
    prefix = settings.queue_name_prefix
    return f"{prefix}{settings.queue_name_delimiter}{name}" if prefix else name


def resolve_queue_name(job: ApplicationJob) -> str:
    """Evaluate the class's queue source for ``job``; without one, Celery's routing decides.

    After ``queue_as`` come a ``task_routes`` entry for the job's name, then
    ``activejob_default_queue_name``, then a changed ``task_default_queue`` (see
    :mod:`activejob_celery.routing`).

    Example:
        >>> resolve_queue_name(GuestsCleanupJob())             # doctest: +SKIP
        'default'
    """
    source = type(job)._queue_name_source
    part = source(job) if callable(source) else source
    if part is None:
        # import here: cycle: routing imports this module (queue_name_from_part)
        from . import routing

        routed = routing.job_routed_queue(job)
        if routed is not None:
            return routed
    return queue_name_from_part(part)
