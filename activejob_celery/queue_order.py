"""Weighted and strict queue order on a worker: ``--queue-weights`` and ``--queue-order``.

The worker step resolves the order at start (the worker options win over the settings
``activejob_queue_weights`` / ``activejob_queue_order``), checks the queue names against the
queues the worker consumes, and the consumer step puts the order on the broker channel: kombu's
Redis channel then tries the queues of each pop in that order, queue by queue, each queue's
priority lists in priority order (Solid Queue: queue order first, priority within a queue).
Reliable fetch (:mod:`.reliable_fetch`) pops with the same key order. Other brokers push
messages to the worker, so the order cannot hold there: one WARNING at worker start.

Example:
    >>> # celery -A shop worker -Q critical,default,low --queue-weights critical=6,default=2,low=1
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import click
from celery import bootsteps
from celery.app.defaults import DEFAULTS

from . import internals
from .broker_queues import broker_url, is_redis_url
from .config import current_settings
from .errors import ConfigurationError
from .queue_keys import pop_keys
from .queue_patterns import add_queue, matching, patterns_for
from .queue_weights import StrictCycle, WeightedCycle, check_order, check_weights
from .runtime import drop_part, part_of, runtime_for

logger = logging.getLogger("activejob_celery.worker")


@dataclasses.dataclass(frozen=True)
class QueueOrder:
    """A worker's queue order: ``kind`` is ``weighted`` or ``strict``.

    Example:
        >>> QueueOrder("weighted", {"critical": 6, "low": 1}).describe()
        'weighted: critical=6, low=1'
    """

    kind: str
    weights: dict[str, int] = dataclasses.field(default_factory=dict)
    ranks: tuple[str, ...] = ()

    def cycle(self) -> WeightedCycle:
        """A new kombu queue cycle for this order (one per channel)."""
        return WeightedCycle(self.weights) if self.kind == "weighted" else StrictCycle(self.ranks)

    def describe(self) -> str:
        """The order for log lines."""
        if self.kind == "weighted":
            return "weighted: " + ", ".join(f"{name}={w}" for name, w in self.weights.items())
        return "strict: " + ", ".join(self.ranks)


_PART = "queue_order"
"""Part of the app's runtime: the :class:`QueueOrder` its worker in this process uses."""
_warned: set[str] = set()


def order_for(app: Any) -> QueueOrder | None:
    """The queue order this process's worker for ``app`` uses (None: Celery's round robin).

    Example:
        >>> order_for(app).kind                                  # doctest: +SKIP
        'weighted'
    """
    found: QueueOrder | None = part_of(app, _PART)
    return found


def resolve(options: dict[str, Any]) -> tuple[str, dict[str, int] | None, str]:
    """The order kind, weights and their source from worker options over the settings.

    Example:
        >>> resolve({"queue_weights": "critical=6,low=1"})
        ('weighted', {'critical': 6, 'low': 1}, '--queue-weights')
    """
    settings = current_settings()
    order, text = options.get("queue_order"), options.get("queue_weights")
    if order is not None:
        check_order(order, "--queue-order")
    weights = None if text is None else check_weights(text, "--queue-weights")
    if weights is not None and order in ("strict", "round_robin"):
        raise ConfigurationError(
            f"--queue-order {order} takes no weights: drop --queue-weights, or use "
            "--queue-order weighted"
        )
    if weights is not None:
        return "weighted", weights, "--queue-weights"
    if order is not None:
        if order == "weighted" and settings.queue_weights is None:
            raise ConfigurationError(
                "--queue-order weighted needs --queue-weights or activejob_queue_weights"
            )
        weights = dict(settings.queue_weights or {}) if order == "weighted" else None
        return order, weights, "--queue-order"
    if settings.queue_weights is not None:
        return "weighted", dict(settings.queue_weights), "activejob_queue_weights"
    return settings.queue_order or "round_robin", None, "activejob_queue_order"


class QueueOrderStep(bootsteps.Step):  # type: ignore[misc]
    """Worker step: resolve and check the queue order, consuming the weighted queues.

    Without ``-Q`` the worker also consumes every weighted queue (as Sidekiq's weighted list is
    its queue list); with ``-Q`` a weighted queue that ``-Q`` does not name (nor match) is an
    error. A consumed queue without a weight counts 1.

    Example:
        >>> # celery -A shop worker --queue-order strict -Q critical,default,low
    """

    label = "activejob queue order"
    requires = ("activejob_celery.app:JobQueues", "activejob_celery.queue_patterns:QueuePatterns")

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        app = worker.app
        drop_part(app, _PART)
        kind, weights, source = resolve(kwargs)
        if kind != "round_robin":
            order = plan(app, kind, weights or {}, source)
            if order is not None:
                runtime_for(app).parts[_PART] = order
                _one_message_ahead(worker, source)
        super().__init__(worker, **kwargs)


def _one_message_ahead(worker: Any, source: str) -> None:
    """With a queue order, reserve one message per process, unless another prefetch was chosen.

    A process reserving Celery's default of 4 makes a job arriving in a heavier queue wait behind
    them (Sidekiq fetches one). Any value but the default (``--prefetch-multiplier``) is kept.
    """
    if getattr(worker, "prefetch_multiplier", None) != DEFAULTS["worker_prefetch_multiplier"]:
        return
    worker.prefetch_multiplier = 1
    logger.info(
        "Queue order (%s): one message reserved per process (worker_prefetch_multiplier 1 "
        "instead of Celery's default 4; any other value is kept)", source,
    )  # fmt: skip


def plan(app: Any, kind: str, weights: dict[str, int], source: str) -> QueueOrder | None:
    """Check ``weights`` against the worker's queues and build its order (None: not possible).

    Example:
        >>> plan(app, "weighted", {"critical": 6, "low": 1}, "--queue-weights")  # doctest: +SKIP
        QueueOrder(kind='weighted', weights={'critical': 6, 'low': 1}, ranks=())
    """
    queues = app.amqp.queues
    selected = internals.consumes_selected_queues(queues)
    consumed = list(queues.consume_from)
    for name in weights:
        if name in consumed:
            continue
        if selected and not matching(patterns_for(app), [name]):
            raise ConfigurationError(
                f"{source} names queue {name!r}, which this worker does not consume "
                f"(-Q {','.join(consumed)}). Add it to -Q, or give this worker its own "
                "--queue-weights for the queues it consumes."
            )
        add_queue(queues, name)
        consumed.append(name)
    setting = "activejob_queue_weights" if kind == "weighted" else "activejob_queue_order"
    setting = source if source.startswith("--") else setting
    if not is_redis_url(broker_url(app)):
        logger.warning(
            "%s is ignored: queue order needs a Redis broker, where the worker fetches one "
            "message at a time; this broker pushes messages to the worker in its own order. "
            "Run one worker per queue (-Q critical -c 6) to share capacity, or remove %s.",
            setting, setting,
        )  # fmt: skip
        return None
    unweighted = [name for name in consumed if name not in weights]
    if kind == "weighted" and unweighted:
        logger.info("Queue weights: queues without a weight count 1: %s", ", ".join(unweighted))
    order = QueueOrder(kind, weights, ranks=tuple(consumed))
    logger.info("Queue order (%s): %s", source, order.describe())
    return order


class QueueOrderFetch(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer step: put the worker's queue order on the task consumer's Redis channel.

    Example:
        >>> app.steps["consumer"].add(QueueOrderFetch)     # init_app does  # doctest: +SKIP
    """

    label = "activejob queue order fetch"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        """Install the order on the channel (a new one after each reconnect)."""
        channel = getattr(c.task_consumer, "channel", None)
        if channel is not None:
            install(c.app, channel)


def install(app: Any, channel: Any) -> bool:
    """Make ``channel`` pop its queues in ``app``'s worker queue order; returns whether it does.

    Idempotent. Reliable fetch calls it before it takes over the channel's pops, so its own
    blocking ``BRPOP`` uses the order too.

    Example:
        >>> install(app, consumer.task_consumer.channel)           # doctest: +SKIP
        True
    """
    order = order_for(app)
    if order is None:
        return False
    if getattr(channel, "_aj_queue_order", None) is not None:
        return True
    problem = internals.queue_order_shape_problem(channel)
    if problem is not None:
        if problem not in _warned:  # once, not on every reconnect
            _warned.add(problem)
            logger.warning("Queue order %s is off: %s", order.describe(), problem)
        return False
    internals.set_queue_cycle(channel, order.cycle())
    channel._aj_queue_order = order
    if not getattr(channel, "_aj_reliable_fetch", False):  # reliable fetch pops its own way
        internals.set_pop_starter(channel, _OrderedPop(channel).start)
    return True


class _OrderedPop:
    """kombu's ``BRPOP`` start, with the keys in :func:`pop_keys` order."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def start(self, timeout: float | None = None) -> None:
        channel = self.channel
        if timeout is None:
            timeout = channel.brpop_timeout
        queues = internals.next_queues(channel)
        if not queues:
            return
        prefix = getattr(channel, "global_keyprefix", "") or ""
        keys = [prefix + key for key in pop_keys(channel, queues)]
        connection = channel.client.connection
        internals.mark_pop_sent(channel, connection, time.monotonic())
        connection.send_command("BRPOP", *keys, timeout or 0)


def _check_option(kind: str) -> Any:
    def check(ctx: Any, param: Any, value: str | None) -> str | None:
        try:
            if value is not None:
                (check_weights if kind == "weights" else check_order)(value, param.opts[0])
        except ConfigurationError as error:
            raise click.BadParameter(str(error)) from None
        return value

    return check


WORKER_OPTIONS = (
    click.Option(
        ["--queue-weights"],
        default=None,
        callback=_check_option("weights"),
        help="activejob: weighted random queue order, e.g. critical=6,default=2,low=1 "
        "(Sidekiq's weights; Redis broker).",
    ),
    click.Option(
        ["--queue-order"],
        default=None,
        callback=_check_option("order"),
        help="activejob: 'strict' tries the -Q queues in the order listed; 'weighted' uses "
        "activejob_queue_weights; 'round_robin' is Celery's.",
    ),
)


def add_worker_options(app: Any) -> None:
    """Add ``--queue-weights`` and ``--queue-order`` to ``celery worker`` (once per app)."""
    options = app.user_options["worker"]
    names = {name for option in options for name in getattr(option, "opts", ())}
    options.update(option for option in WORKER_OPTIONS if option.opts[0] not in names)


__all__ = [
    "QueueOrder",
    "QueueOrderFetch",
    "QueueOrderStep",
    "add_worker_options",
    "install",
    "order_for",
    "pop_keys",
]
