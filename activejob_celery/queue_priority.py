"""``queue_with_priority``: a job's priority, and how it maps onto the broker's scale.

A lower number runs first, as in Solid Queue, GoodJob and kombu's Redis transport. On Redis the
job's number is clamped to 0..9 (0 first). RabbitMQ delivers a *higher* number first, and only on
queues declared with ``x-max-priority``: there the job's number ``p`` becomes ``max - p`` (clamped
to 0..max), so priority 0 still runs first; on a plain queue priorities do nothing, and the first
job with one logs a WARNING for that queue.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .broker_queues import broker_url
from .config import current_settings
from .declaration import Declaration, collect
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .base import ApplicationJob

logger = logging.getLogger(__name__)

PrioritySource = TypeVar("PrioritySource", bound="int | Callable[..., Any] | None")

CELERY_PRIORITY_MIN = 0
CELERY_PRIORITY_MAX = 9
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp", "librabbitmq")
"""Broker URL schemes where a higher message priority is delivered first (RabbitMQ)."""

_amqp_apps: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_warned: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


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


def celery_priority(priority: int | None, app: Any = None, queue: str | None = None) -> int | None:
    """The message priority for a job's ``priority`` on ``app``'s broker and ``queue``.

    Without an app, or on Redis: clamped to 0 (first) .. 9 (last), None stays None. On AMQP
    see :func:`amqp_priority`.

    Example:
        >>> celery_priority(0), celery_priority(5), celery_priority(50), celery_priority(-3)
        (0, 5, 9, 0)
        >>> celery_priority(0, app, "default")   # RabbitMQ, x-max-priority 10  # doctest: +SKIP
        10
    """
    if app is not None and is_amqp(app):
        return amqp_priority(app, queue, priority)
    if priority is None:
        return None
    return min(max(int(priority), CELERY_PRIORITY_MIN), CELERY_PRIORITY_MAX)


def amqp_priority(app: Any, queue: str | None, priority: int | None) -> int | None:
    """A job's priority as RabbitMQ reads it (higher first) on ``queue``.

    On a queue with ``x-max-priority`` ``max``: ``max - p`` with ``p`` clamped to 0..max, None
    counting as 0 (unless ``task_default_priority`` is set: then Celery's default applies). On
    a queue without it: None, and one WARNING per queue when the job asked for a priority.

    Example:
        >>> [amqp_priority(app, "default", p) for p in (0, 5, 9, None)]  # doctest: +SKIP
        [10, 5, 1, 10]
    """
    maximum = queue_max_priority(app, queue)
    if maximum is None:
        if priority is not None:
            _warn_plain_queue(app, queue or str(app.conf.task_default_queue))
        return None
    if priority is None:
        if app.conf.task_default_priority is not None:
            return None
        priority = 0
    return maximum - min(max(int(priority), 0), maximum)


def queue_max_priority(app: Any, queue: str | None) -> int | None:
    """The ``x-max-priority`` ``queue`` is declared with on ``app`` (None: a plain queue).

    Looks the queue up as ``send_task`` does, so a missing queue is created with Celery's
    ``task_queue_max_priority``.

    Example:
        >>> queue_max_priority(app, "default")                  # doctest: +SKIP
        10
    """
    try:
        declared = app.amqp.queues[queue or app.conf.task_default_queue]
    except KeyError:  # task_create_missing_queues is off: Celery will refuse it too
        return None
    value = (declared.queue_arguments or {}).get("x-max-priority")
    if value is None:
        value = getattr(declared, "max_priority", None)
    return None if value is None else int(value)


def is_amqp(app: Any) -> bool:
    """Whether ``app`` publishes to an AMQP broker (decided once per app and ``init_app``)."""
    known = _amqp_apps.get(app)
    if known is None:
        scheme = (broker_url(app) or "").split("://", 1)[0].lower()
        known = _amqp_apps[app] = scheme in AMQP_SCHEMES
    return known


def forget_broker(app: Any) -> None:
    """Decide the broker kind of ``app`` again on next use (``init_app`` calls it)."""
    with _lock:
        _amqp_apps.pop(app, None)
        _warned.pop(app, None)


def _warn_plain_queue(app: Any, queue: str) -> None:
    with _lock:
        warned = _warned.setdefault(app, set())
        if queue in warned:
            return
        warned.add(queue)
    logger.warning(
        "Queue %r has no x-max-priority, so RabbitMQ ignores job priorities on it: declare it "
        'with queue_arguments={"x-max-priority": 10} (or set Celery\'s task_queue_max_priority '
        "= 10 for every queue); a lower job priority then runs first",
        queue,
    )
