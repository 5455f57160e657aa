"""The one door to Celery's, kombu's and RedBeat's private attributes.

Every read or write of a private (underscore) attribute of a Celery, kombu or RedBeat object in
this package goes through a function here. :func:`check_shapes` looks at the installed
versions once, when ``init_app`` runs: a part whose internals are not where this module expects
them is turned off with one WARNING naming it, instead of a job going missing later.

Example:
    >>> from activejob_celery import internals
    >>> sorted(internals.check_shapes())                      # doctest: +SKIP
    []
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from celery import current_app, current_task as task_proxy
from celery.local import Proxy
from kombu.transport import redis as kombu_redis, virtual as kombu_virtual

# Re-exported: these sections of the door live in internals_channels.py (length).
from .internals_channels import (
    PACKED_ACK as PACKED_ACK,
    PACKED_ACK_SHAPES,
    ack_in_memory as ack_in_memory,
    publishes_like_redis_channel as publishes_like_redis_channel,
    queue_order_shape_problem as queue_order_shape_problem,
    set_queue_cycle as set_queue_cycle,
    unacked_keys as unacked_keys,
)

logger = logging.getLogger(__name__)

RELIABLE_FETCH = "reliable fetch"
DIRECT_PUBLISH = "direct publish"
TRANSPORT_GUARD = "dead-letter transport guard"
JOB_QUEUES = "job queue consumption without -Q"
CURRENT_APP = "finding the project's Celery app (Django)"

# What each part reads or writes, by owner: (part, what it is, attribute names).
_SHAPES: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    (
        RELIABLE_FETCH,
        kombu_redis.Channel,
        ("_brpop_start", "_brpop_read", "_queue_cycle", "_q_for_pri", "_lookup", "_in_poll"),
    ),
    (RELIABLE_FETCH, kombu_redis.QoS, ("_remove_from_indices", "restore_by_tag")),
    (DIRECT_PUBLISH, kombu_redis.Channel, ("_put", "_q_for_pri", "_get_message_priority")),
    (TRANSPORT_GUARD, kombu_redis.QoS, ("_delivered",)),
    (CURRENT_APP, Proxy, ("_get_current_object",)),
)

_broken: set[str] | None = None


def check_shapes(*, warn: bool = True) -> set[str]:
    """Check once per process that the private attributes used here exist; return broken parts.

    Each broken part is logged once, at WARNING, naming the part that is turned off.

    Example:
        >>> check_shapes()                                    # doctest: +SKIP
        set()
    """
    global _broken
    if _broken is None:
        _broken = set()
        for part, owner, names in _SHAPES:
            missing = [name for name in names if not _has(owner, name)]
            if missing and part not in _broken:
                _broken.add(part)
                if warn:
                    logger.warning(
                        "activejob_celery: %s is off: this kombu/Celery version has no %s on %s. "
                        "Pin kombu and celery to the versions activejob-celery supports.",
                        part,
                        ", ".join(missing),
                        owner.__name__,
                    )
    return set(_broken)


def usable(part: str) -> bool:
    """Whether ``part`` (one of the module's part names) passed :func:`check_shapes`."""
    return part not in check_shapes()


def _has(owner: Any, name: str) -> bool:
    if hasattr(owner, name):
        return True
    # An instance attribute that some ``__init__`` in the class's MRO sets.
    for klass in owner.__mro__:
        code = getattr(vars(klass).get("__init__"), "__code__", None)
        if code is not None and name in code.co_names:
            return True
    return False


# --- kombu's Redis channel: reliable fetch -------------------------------------------------


def is_kombu_redis_channel(channel: Any) -> bool:
    """Whether ``channel`` is a kombu Redis (or Sentinel) channel with the expected shape."""
    return isinstance(channel, kombu_redis.Channel) and usable(RELIABLE_FETCH)


def pop_starter(channel: Any) -> Callable[..., None]:
    """The channel's method that sends its ``BRPOP`` (kombu's ``_brpop_start``)."""
    start: Callable[..., None] = channel._brpop_start
    return start


def set_pop_starter(channel: Any, start: Callable[..., None]) -> None:
    """Make ``start`` send the channel's pops in place of ``BRPOP``."""
    channel._brpop_start = start


def next_queues(channel: Any) -> list[str]:
    """The channel's queues in the order its next ``BRPOP`` would try them (round robin)."""
    queues: list[str] = channel._queue_cycle.consume(len(channel.active_queues))
    return queues


def priority_list(channel: Any, queue: str, priority: int) -> str:
    """The Redis list (without the global key prefix) holding ``queue``'s ``priority`` bucket."""
    key: str = channel._q_for_pri(queue, priority)
    return key


def mark_pop_sent(channel: Any, connection: Any, sent_at: float) -> None:
    """Tell the channel a pop is in flight on ``connection``, as kombu's own start does."""
    channel._in_poll = connection
    channel._brpop_sent_at = sent_at


def unacked_pipeline(channel: Any, tag: Any, pipe: Any = None) -> Any:
    """A pipeline that drops ``tag`` from kombu's unacked hash and index (call ``execute``)."""
    remove = channel.qos._remove_from_indices
    return remove(tag) if pipe is None else remove(tag, pipe)


def routed_queues(channel: Any, exchange: str, routing_key: str) -> Iterable[str]:
    """The queues ``exchange`` routes ``routing_key`` to (kombu's binding lookup)."""
    queues: Iterable[str] = channel._lookup(exchange, routing_key)
    return queues


def records_unacked(channel: Any) -> bool:
    """Whether the channel keeps kombu's unacked hash (``ack_emulation`` on)."""
    return hasattr(channel.qos, "_remove_from_indices") and hasattr(channel, "unacked_key")


def is_delivered(channel: Any, tag: Any) -> bool:
    """Whether the channel's QoS holds ``tag`` as delivered and not yet acknowledged."""
    try:
        return tag in getattr(channel.qos, "_delivered", {})
    except TypeError:  # an unhashable tag never made it into the unacked set
        return False


def forget_deliveries(channel: Any) -> None:
    """Forget the messages the channel's QoS holds as delivered (their Redis records remain)."""
    delivered = getattr(channel.qos, "_delivered", None)
    if delivered is not None:
        delivered.clear()


# --- kombu's Redis channel: direct publish -------------------------------------------------


def capturing_channel_class(transport: Any, record: Callable[[Any, str, Any], None]) -> type:
    """A subclass of ``transport``'s channel whose final push calls ``record`` instead.

    ``record(channel, queue, message)`` replaces kombu's ``Channel._put``.
    """
    base: type = transport.Channel

    def _put(self: Any, queue: str, message: Any, **kwargs: Any) -> None:
        record(self, queue, message)

    return type("CapturingChannel", (base,), {"_put": _put})


def pushed_list(channel: Any, queue: str, message: Any) -> str:
    """The list key kombu's ``_put`` pushes ``message`` to (global prefix and bucket included)."""
    priority = channel._get_message_priority(message, reverse=False)
    return str(channel.global_keyprefix) + priority_list(channel, queue, priority)


# --- Celery's worker -----------------------------------------------------------------------


def consumes_selected_queues(queues: Any) -> bool:
    """Whether the worker was started with ``-Q`` (Celery keeps the selection privately)."""
    return getattr(queues, "_consume_from", None) is not None


# --- direct publish ---


def cached_value(owner: object, name: str) -> Any:
    """The value Celery's/kombu's ``cached_property`` ``name`` of ``owner`` holds, read fast.

    kombu's ``cached_property`` takes a lock on every read; once computed, the value sits in the
    instance's ``__dict__`` under the property's name. Reading it there costs a dict lookup.
    When it is not there (not computed yet, or kombu stores it elsewhere), the property is read
    normally: slower, never wrong.

    Example:
        >>> cached_value(app, "amqp") is app.amqp               # doctest: +SKIP
        True
    """
    value = vars(owner).get(name)
    return getattr(owner, name) if value is None else value


# --- Django and SQLAlchemy ---


def current_celery_app() -> Any:
    """The app behind Celery's ``current_app`` proxy (Celery's documented way to unwrap it).

    Example:
        >>> current_celery_app().main                           # doctest: +SKIP
        'proj'
    """
    return current_app._get_current_object()


# --- moved in by structure ---
def current_task() -> Any:
    """The task this thread runs now, or None (unwraps Celery's ``current_task`` proxy).

    Example:
        >>> current_task() is None                              # outside a task
        True
    """
    return task_proxy._get_current_object()


# --- skip kombu's repeated unacked write ---
# Reliable fetch's script records each message in kombu's unacked hash and index as it pops
# it; kombu's Redis ``QoS.append`` then writes the same entry again, waiting for a pipeline.
# For a message the script recorded, only the in-memory part (virtual ``QoS.append``) runs.
UNACKED_SKIP = "skipping kombu's repeated unacked write"
_REDIS_APPEND = getattr(getattr(kombu_redis.QoS, "append", None), "__code__", None)
# What kombu's Redis append is expected to name: its write, and the virtual append after it.
_AppendNames = type("QoS.append", (), dict.fromkeys(getattr(_REDIS_APPEND, "co_names", ())))
_SHAPES += (
    (UNACKED_SKIP, _AppendNames, ("zadd", "hset", "unacked_key", "unacked_index_key", "append")),
    (UNACKED_SKIP, kombu_virtual.QoS, ("append", "_delivered", "_quick_append")),
)


def can_skip_unacked_write(qos: Any) -> bool:
    """Whether ``qos`` is kombu's Redis QoS, whose ``append`` may skip its Redis write.

    Example:
        >>> can_skip_unacked_write(object())
        False
    """
    return type(qos).append is kombu_redis.QoS.append and usable(UNACKED_SKIP)


def append_in_memory(qos: Any, message: Any, tag: Any) -> None:
    """Do kombu's bookkeeping of a delivered message (virtual ``QoS.append``), no Redis write."""
    append: Callable[[Any, Any, Any], None] = kombu_virtual.QoS.append
    append(qos, message, tag)


# --- kombu's Redis ack, packed by hand (its shapes and helpers: internals_channels.py) ---
_SHAPES += PACKED_ACK_SHAPES


def can_pack_ack(qos: Any) -> bool:
    """Whether ``qos`` is kombu's Redis QoS, whose ``ack`` the packed ack may stand in for.

    Example:
        >>> can_pack_ack(object())
        False
    """
    return getattr(type(qos), "ack", None) is kombu_redis.QoS.ack and usable(PACKED_ACK)
