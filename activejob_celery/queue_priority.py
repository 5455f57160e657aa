"""``queue_with_priority``: a job's priority, and how it maps onto the broker's scale.

A priority is any integer and a lower number runs first; None counts as 0 (Rails, Solid Queue,
GoodJob). A job class may also define ``priority`` itself, as a method, a property or a plain
value (GoodJob's ``def priority; -10; end``): it becomes the class's priority source.

On Redis the job's number picks one of the transport's ``priority_steps`` lists, and on RabbitMQ
(which delivers a *higher* number first, and only on queues declared with ``x-max-priority``)
one of the queue's levels, by ranges that keep the order (:mod:`.priority_buckets`): negative
first, then 0 and None, then positive ranges. On a plain RabbitMQ queue priorities do nothing,
and the first job with one logs a WARNING for that queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .broker_queues import broker_url
from .config import current_settings
from .declaration import Declaration, collect
from .errors import ConfigurationError
from .priority_buckets import amqp_level, redis_priority, redis_steps
from .runtime import app_part, drop_part

if TYPE_CHECKING:
    from .base import ApplicationJob

logger = logging.getLogger(__name__)

PrioritySource = TypeVar("PrioritySource", bound="int | Callable[..., Any] | None")

CELERY_PRIORITY_MIN = 0
CELERY_PRIORITY_MAX = 9
"""The message priorities kombu's Redis transport reads (it clamps anything else)."""
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp", "librabbitmq")
"""Broker URL schemes where a higher message priority is delivered first (RabbitMQ)."""

_AMQP = "queue_priority.amqp"
"""Part of the app's runtime: whether it publishes to an AMQP broker."""
_PLAN = "queue_priority.plan"
"""Part of the app's runtime: whether Celery picks a missing priority, and its Redis steps (read
once, as :func:`is_amqp`: each ``app.conf`` read costs microseconds; this runs for every job)."""
_WARNED = "queue_priority.warned"
"""Part of the app's runtime: the plain queues already warned about."""
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
    """Evaluate the class's priority source for ``job``; ConfigurationError if not an integer.

    Example:
        >>> resolve_priority(GuestsCleanupJob(42))              # doctest: +SKIP
        5
    """
    source = type(job)._priority_source
    if source is None:
        return current_settings().default_priority
    value = source(job) if callable(source) else source
    if value is not None and not _is_integer(value):
        raise ConfigurationError(
            f"{type(job).__qualname__}.priority gave {value!r}; a priority is an integer "
            "(lower runs first) or None"
        )
    return value


def adopt_priority_reader(job_class: type[ApplicationJob], namespace: Any) -> None:
    """Make a ``priority`` defined in a class body the class's priority source.

    A method or property (GoodJob's ``def priority; -10; end``) is called with the job when the
    priority is first read; a plain integer or None is the class's priority (Rails'
    ``self.priority = -10``). The job keeps the ``priority`` attribute of every job, so
    ``set(priority=)`` and the payload work as for ``queue_with_priority``.

    Example:
        >>> class ImportantJob(ApplicationJob):                 # doctest: +SKIP
        ...     def priority(self) -> int:
        ...         return -10
        >>> ImportantJob().priority                             # doctest: +SKIP
        -10
    """
    if "priority" not in namespace:
        return
    defined = namespace["priority"]
    source: int | Callable[..., Any] | None
    if isinstance(defined, property) and defined.fget is not None:
        source = defined.fget
    elif isinstance(defined, staticmethod):
        function = defined.__func__
        source = lambda job: function()  # noqa: E731 - a one-line adapter
    elif isinstance(defined, classmethod):
        method = defined.__func__
        source = lambda job: method(type(job))  # noqa: E731 - a one-line adapter
    elif callable(defined) or defined is None or _is_integer(defined):
        source = defined
    else:
        raise ConfigurationError(
            f"{job_class.__qualname__}.priority = {defined!r}: a priority is an integer "
            "(lower runs first), None, or a method returning one"
        )
    job_class._priority_source = source
    delattr(job_class, "priority")  # the job's own property reads the source


def _celery_decides(app: Any) -> bool:
    # A job without a priority is sent without one when Celery's task_default_priority or a
    # task_routes router may give it one: an explicit priority would override the router's.
    return app.conf.task_default_priority is not None or bool(app.conf.task_routes)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def celery_priority(priority: int | None, app: Any = None, queue: str | None = None) -> int | None:
    """The message priority for a job's ``priority`` on ``app``'s broker and ``queue``.

    Without an app, or on Redis: the ``priority_steps`` list of its range (lower first; with
    ``init_app``'s ten steps: below 0 -> 0, 0 and None -> 1, 1-4 -> 2-5, 5-9 -> 6, 10-19 -> 7,
    20-49 -> 8, 50 and up -> 9). None is left to Celery when its ``task_default_priority`` or
    ``task_routes`` is set, so a router may still give one. On AMQP see :func:`amqp_priority`.

    Example:
        >>> [celery_priority(p) for p in (-10, None, 0, 5, 10, 50)]
        [0, 1, 1, 6, 7, 9]
        >>> celery_priority(0, app, "default")   # RabbitMQ, x-max-priority 10  # doctest: +SKIP
        9
    """
    if app is not None and is_amqp(app):
        return amqp_priority(app, queue, priority)
    if app is None:
        return redis_priority(priority, redis_steps(None))
    celery_decides, steps = app_part(app, _PLAN, lambda: (_celery_decides(app), redis_steps(app)))
    if priority is None and celery_decides:
        return None
    return redis_priority(priority, steps)


def amqp_priority(app: Any, queue: str | None, priority: int | None) -> int | None:
    """A job's priority as RabbitMQ reads it (higher first) on ``queue``.

    On a queue with ``x-max-priority`` ``max``: ``max`` for a negative priority, ``max - 1`` for
    0 (and None, unless ``task_default_priority`` is set: then Celery's default applies), lower
    levels for the positive ranges of :mod:`.priority_buckets`. On a queue without it: None,
    and one WARNING per queue when the job asked for a priority.

    Example:
        >>> [amqp_priority(app, "default", p) for p in (-10, 0, 5, 10, None)]  # doctest: +SKIP
        [10, 9, 4, 3, 9]
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
    return amqp_level(int(priority), maximum)


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
    known: bool = app_part(app, _AMQP, lambda: _scheme(app) in AMQP_SCHEMES)
    return known


def _scheme(app: Any) -> str:
    return (broker_url(app) or "").split("://", 1)[0].lower()


def forget_broker(app: Any) -> None:
    """Decide the broker kind of ``app`` again on next use (``init_app`` calls it)."""
    with _lock:
        for part in (_AMQP, _PLAN, _WARNED):
            drop_part(app, part)


def _warn_plain_queue(app: Any, queue: str) -> None:
    with _lock:
        warned: set[str] = app_part(app, _WARNED, set)
        if queue in warned:
            return
        warned.add(queue)
    logger.warning(
        "Queue %r has no x-max-priority, so RabbitMQ ignores job priorities on it: declare it "
        'with queue_arguments={"x-max-priority": 10} (or set Celery\'s task_queue_max_priority '
        "= 10 for every queue); a lower job priority then runs first",
        queue,
    )
