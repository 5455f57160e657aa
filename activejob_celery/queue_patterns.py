"""Queue patterns for workers: ``-Q '*'`` and ``-Q 'prefix*'``, as Solid Queue's ``queues:``.

A ``-Q`` entry ending in ``*`` is a pattern, not a queue name: ``*`` stands for every job queue,
``mail*`` for every queue whose name starts with ``mail``. Plain names and patterns mix
(``-Q critical,'low*'``). At worker start each pattern is replaced by the queues that match it
then; while the worker runs, it looks for new queues every ``activejob_queue_pattern_interval``
seconds (5 by default) and consumes those that match, so a queue first used after the start (a
dynamic ``queue_as`` or ``set(queue=...)``) is picked up. Queues are found where kombu records
them on a Redis broker: the ``_kombu.binding.*`` sets written when a queue is first published to.
On other brokers only the queues known at start (the job classes' static queues and
``task_queues``) are matched, and the worker says so with a WARNING.

Example:
    >>> matches("mail*", "mailers"), matches("*", "default"), matches("mail*", "default")
    (True, True, False)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import bootsteps
from redis.exceptions import RedisError

from . import internals
from .broker_queues import broker_url, configured_queues, is_redis_url, key_prefix, queue_names
from .config import current_settings
from .errors import ConfigurationError
from .runtime import part_of, runtime_for

if TYPE_CHECKING:
    pass

logger = logging.getLogger("activejob_celery.worker")

WILDCARD = "*"
_INTERNAL_SUFFIXES = (".dq2", ".pidbox")  # worker-direct and control queues: never job queues

_PART = "queue_patterns"
"""Part of the app's runtime: the ``-Q`` patterns its worker in this process expanded."""


def is_pattern(name: str) -> bool:
    """Whether a ``-Q`` entry is a pattern (it contains ``*``).

    Example:
        >>> is_pattern("low*"), is_pattern("low")
        (True, False)
    """
    return WILDCARD in name


def check_pattern(name: str) -> str:
    """Return ``name`` if it is a valid pattern: ``*`` only once, at the end.

    Example:
        >>> check_pattern("*mail")
        Traceback (most recent call last):
        ...
        activejob_celery.errors.ConfigurationError: -Q '*mail': ...
    """
    if name.count(WILDCARD) != 1 or not name.endswith(WILDCARD):
        raise ConfigurationError(
            f"-Q {name!r}: a queue pattern has one '*', at its end ('*' for every queue, "
            "'mail*' for every queue whose name starts with 'mail'). Name such queues in full."
        )
    return name


def matches(pattern: str, name: str) -> bool:
    """Whether queue ``name`` matches ``pattern`` (never an internal queue).

    Example:
        >>> matches("*", "celery@host.dq2")
        False
    """
    if not name or name.endswith(_INTERNAL_SUFFIXES) or name.startswith("celeryev"):
        return False
    return name.startswith(pattern[: -len(WILDCARD)])


def matching(patterns: tuple[str, ...], names: list[str]) -> list[str]:
    """The ``names`` that match any of ``patterns``, in their order.

    Example:
        >>> matching(("mail*",), ["default", "mailers", "mail_low"])
        ['mailers', 'mail_low']
    """
    return [name for name in names if any(matches(pattern, name) for pattern in patterns)]


def patterns_for(app: Any) -> tuple[str, ...]:
    """The patterns this process's worker for ``app`` was started with (none by default).

    Example:
        >>> patterns_for(app)                  # celery -A app worker -Q 'mail*'  # doctest: +SKIP
        ('mail*',)
    """
    found: tuple[str, ...] = part_of(app, _PART) or ()
    return found


def known_queues(app: Any) -> list[str] | None:
    """Every queue the broker knows, or None when only a Redis broker can be asked.

    Example:
        >>> known_queues(app)                                  # doctest: +SKIP
        ['default', 'celery', 'mailers', 'reports']
    """
    url = broker_url(app)
    if not is_redis_url(url) or url is None:
        return None
    return queue_names(app, runtime_for(app).clients.get(url), key_prefix(app))


class QueuePatterns(bootsteps.Step):  # type: ignore[misc]
    """Worker step: replace each ``-Q`` pattern by the queues that match it at start.

    Added by ``init_app``; does nothing without a pattern in ``-Q``.

    Example:
        >>> # celery -A app worker -Q 'critical,low*'          # doctest: +SKIP
    """

    label = "activejob queue patterns"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        app = worker.app
        queues = app.amqp.queues
        selected = list(queues.consume_from) if internals.consumes_selected_queues(queues) else []
        patterns = tuple(check_pattern(name) for name in selected if is_pattern(name))
        if patterns:
            for pattern in patterns:  # Celery made a queue of that name: it is no queue
                queues.deselect([pattern])
                queues.pop(pattern, None)
            runtime_for(app).parts[_PART] = patterns
            _expand_at_start(app, queues, patterns)
        super().__init__(worker, **kwargs)


def _expand_at_start(app: Any, queues: Any, patterns: tuple[str, ...]) -> None:
    try:
        found = known_queues(app)
    except RedisError as error:
        logger.warning("Queue patterns: cannot list the broker's queues yet (%s)", error)
        found = []
    if found is None:
        found = configured_queues(app)
        logger.warning(
            "Queue patterns %s: queues appearing later are only found on a Redis broker; "
            "this worker consumes the matching queues known at start only (%s). Name every "
            "queue in -Q, or use a Redis broker.",
            ", ".join(patterns), ", ".join(matching(patterns, found)) or "none",
        )  # fmt: skip
    for name in matching(patterns, found):
        add_queue(queues, name)
    for pattern in patterns:
        if not matching((pattern,), found):
            logger.info(
                "Queue pattern %r matches no queue yet; its queues are consumed as they appear",
                pattern,
            )


def add_queue(queues: Any, name: str) -> None:
    """Select queue ``name`` for consuming, declared as Celery declares a missing queue."""
    if name in queues or queues.create_missing:
        queues.select_add(queues[name])
    else:
        queues.select_add(name, exchange=name, exchange_type="direct", routing_key=name)


class QueuePatternWatch(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer step: every few seconds, consume new queues that match the worker's patterns.

    Runs on the consumer's timer (the worker's event loop); does nothing without patterns or
    without a Redis broker.

    Example:
        >>> app.conf.activejob_queue_pattern_interval = 2.0    # doctest: +SKIP
    """

    label = "activejob queue pattern watch"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        self._timer: Any = None
        self._failing = False
        super().__init__(consumer, **kwargs)

    def start(self, consumer: Any) -> None:
        """Start the periodic check (after the task consumer exists)."""
        self.stop(consumer)
        if not patterns_for(consumer.app) or not is_redis_url(broker_url(consumer.app)):
            return
        interval = current_settings().queue_pattern_interval
        self._timer = consumer.timer.call_repeatedly(interval, self.check, (consumer,))

    def stop(self, consumer: Any) -> None:
        """Stop the periodic check."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    shutdown = stop

    def check(self, consumer: Any) -> list[str]:
        """Consume each new matching queue; returns their names. Redis errors are logged."""
        app = consumer.app
        try:
            found = known_queues(app) or []
        except RedisError as error:
            if not self._failing:
                logger.warning("Queue patterns: cannot list the broker's queues (%s)", error)
            self._failing = True
            return []
        self._failing = False
        consuming = set(app.amqp.queues.consume_from)
        new = [name for name in matching(patterns_for(app), found) if name not in consuming]
        for name in new:
            logger.info("Queue pattern: new queue %r matches; consuming it", name)
            add_queue(app.amqp.queues, name)
            consumer.call_soon(consumer.add_task_queue, name)
        return new


__all__ = ["QueuePatternWatch", "QueuePatterns", "check_pattern", "is_pattern", "matches"]
