"""The one door to Celery's, kombu's and RedBeat's private attributes.

Every read or write of a private (underscore) attribute of a Celery, kombu or RedBeat object in
this package goes through a function here, so that an upgrade that changes one of them breaks
this module's shape checks at start, with one WARNING naming the part that turns off, instead
of a job going missing later.
"""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


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
