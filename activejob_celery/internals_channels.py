"""Part of the door to kombu's private attributes (see :mod:`activejob_celery.internals`).

The Sentinel channel's publish methods and the Redis channel's queue cycle, moved out of
``internals.py`` to keep it short; ``internals`` re-exports every public name here, and the
rest of the package reaches them through ``internals`` only.

Example:
    >>> from activejob_celery import internals
    >>> internals.queue_order_shape_problem(object())
    'the broker channel is not a kombu Redis channel'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kombu.transport import redis as kombu_redis, virtual as kombu_virtual

logger = logging.getLogger("activejob_celery.internals")

# --- sentinel ---
# kombu's Sentinel channel subclasses its Redis channel and changes only how the connection pool
# finds the master (and fanout topics). A message to a queue is built and pushed by these
# methods; while the Sentinel channel inherits every one of them unchanged, a message captured
# on it is byte for byte what the Redis channel would push, so the direct path may copy it.
_QUEUE_PUBLISH_METHODS = (
    "basic_publish",
    "prepare_message",
    "_inplace_augment_message",
    "_lookup",
    "_put",
    "_q_for_pri",
    "_get_message_priority",
)


def publishes_like_redis_channel(channel_class: type) -> bool:
    """Whether ``channel_class`` pushes queue messages with kombu's Redis channel's own code.

    Example:
        >>> from kombu.transport.redis import SentinelChannel
        >>> publishes_like_redis_channel(SentinelChannel)
        True
    """
    base = kombu_redis.Channel
    if not issubclass(channel_class, base):
        return False
    unchanged = all(
        getattr(channel_class, name, None) is getattr(base, name, object())
        for name in _QUEUE_PUBLISH_METHODS
    )
    if not unchanged:
        logger.warning(
            "kombu's %s publishes differently from its Redis channel; jobs on this broker go "
            "through Celery's publish path (slower, nothing lost)",
            channel_class.__name__,
        )
    return unchanged


# --- queue order (weighted and strict queue order) ---
# kombu's Redis channel asks its queue cycle (``_queue_cycle``: ``update``, ``consume``,
# ``rotate``) for the order of each BRPOP, and sends the pop from ``_brpop_start``.
_QUEUE_ORDER_NAMES = ("_queue_cycle", "_brpop_start", "_q_for_pri", "_in_poll")


def queue_order_shape_problem(channel: Any) -> str | None:
    """Why weighted/strict queue order cannot go on ``channel``, or None when it can.

    Example:
        >>> queue_order_shape_problem(object())
        'the broker channel is not a kombu Redis channel'
    """
    if not isinstance(channel, kombu_redis.Channel):
        return "the broker channel is not a kombu Redis channel"
    missing = [name for name in _QUEUE_ORDER_NAMES if not hasattr(channel, name)]
    cycle = getattr(channel, "_queue_cycle", None)
    if not missing and not all(hasattr(cycle, name) for name in ("update", "consume", "rotate")):
        missing.append("_queue_cycle.update/consume/rotate")
    if missing or not hasattr(channel, "priority_steps"):
        return f"this kombu's Redis channel has no {', '.join(missing) or 'priority_steps'}"
    return None


def set_queue_cycle(channel: Any, cycle: Any) -> None:
    """Make ``cycle`` order the queues of each of the channel's pops (kombu's queue cycle)."""
    channel._queue_cycle = cycle
    cycle.update(channel.active_queues)


# --- kombu's Redis ack, packed by hand ---
# kombu's Redis ``QoS.ack`` drops the entry with ``_remove_from_indices`` (a MULTI/EXEC pipeline:
# ZREM from the unacked index, HDEL from the unacked hash), then does the virtual QoS's
# in-memory ack. The packed ack (packed_ack.py) sends those commands itself while kombu's code
# names them (their bytes are compared with kombu's in tests/integration/test_packed_ack.py).
# ``internals`` adds these shapes to the ones it checks when ``init_app`` runs.
PACKED_ACK = "packing kombu's Redis ack by hand"


def _code_names(function: Any) -> dict[str, None]:
    """The names a function's code reads, as a class namespace (empty when it is not there)."""
    return dict.fromkeys(getattr(getattr(function, "__code__", None), "co_names", ()))


_AckNames = type("QoS.ack", (), _code_names(getattr(kombu_redis.QoS, "ack", None)))
_RemoveNames = type(
    "QoS._remove_from_indices",
    (),
    _code_names(getattr(kombu_redis.QoS, "_remove_from_indices", None)),
)
PACKED_ACK_SHAPES: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    (PACKED_ACK, _AckNames, ("_remove_from_indices", "execute", "ack")),
    (PACKED_ACK, _RemoveNames, ("zrem", "unacked_index_key", "hdel", "unacked_key")),
    (PACKED_ACK, kombu_virtual.QoS, ("ack", "_quick_ack")),
)


def unacked_keys(qos: Any) -> tuple[str, str]:
    """The unacked index's and hash's names (without the global key prefix), in ack order."""
    return str(qos.unacked_index_key), str(qos.unacked_key)


def ack_in_memory(qos: Any, tag: Any) -> None:
    """Do kombu's in-memory part of an ack (the virtual ``QoS.ack``), no Redis write."""
    ack: Callable[[Any, Any], None] = kombu_virtual.QoS.ack
    ack(qos, tag)
