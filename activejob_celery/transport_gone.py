"""A kombu Redis channel whose transport is gone must not stop the worker.

kombu 5.7 can go on using a channel after it dropped the channel's connection object (a Redis
that died under a busy worker). Its close-time restore of the unacked messages, and the acks of
jobs that finish after it, then raise ``AttributeError``, which nothing catches, and the worker
exits. With reliable fetch each of those messages is recorded as unacked in Redis, so kombu's
visibility-timeout restore brings it back: the guard says so and lets the worker reconnect.
"""

from __future__ import annotations

import logging
from typing import Any

from . import internals

logger = logging.getLogger("activejob_celery.reliable_fetch")


def guard_dead_transport(channel: Any) -> None:
    """Keep the worker running when kombu uses a channel whose transport is gone.

    Example:
        >>> guard_dead_transport(consumer.task_consumer.channel)  # doctest: +SKIP
    """
    qos = channel.qos
    plain_once = getattr(qos, "restore_unacked_once", None)
    if plain_once is not None:

        def restore_unacked_once(*args: Any, **kwargs: Any) -> Any:
            try:
                return plain_once(*args, **kwargs)
            except AttributeError:
                if not transport_gone(channel):
                    raise
                internals.forget_deliveries(channel)  # kombu asserts on them at the next close
                logger.warning(
                    "The broker connection was dropped before this channel's unacknowledged "
                    "messages could be restored; they stay recorded as unacked and come back "
                    "after the visibility timeout"
                )
                return None

        qos.restore_unacked_once = restore_unacked_once
    for name in ("basic_ack", "basic_reject"):
        setattr(channel, name, _as_connection_error(channel, getattr(channel, name)))


def _as_connection_error(channel: Any, settle: Any) -> Any:
    # Celery logs a connection error of an ack ("Couldn't ack") and goes on; an AttributeError
    # from a channel whose transport is gone would stop the worker.
    def settle_or_report(*args: Any, **kwargs: Any) -> Any:
        try:
            return settle(*args, **kwargs)
        except AttributeError as error:
            if not transport_gone(channel):
                raise
            raise ConnectionError(
                "the broker connection of this channel is gone; the message stays recorded as "
                "unacked and is delivered again after the visibility timeout"
            ) from error

    return settle_or_report


def transport_gone(channel: Any) -> bool:
    """Whether kombu dropped ``channel``'s transport (its connection object is gone).

    Example:
        >>> transport_gone(consumer.task_consumer.channel)       # doctest: +SKIP
        False
    """
    transport = getattr(channel, "connection", None)
    return transport is None or getattr(transport, "client", None) is None
