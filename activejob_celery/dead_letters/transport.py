"""Redis transport guard: a queue entry that is not a message must not stop the worker.

kombu's Redis channel pops an entry with BRPOP and decodes it in the worker's event loop; an
entry that is not a JSON message envelope raises there, and Celery stops the worker with
"Unrecoverable error" (the entry is already gone from Redis). The guard wraps the channel's
BRPOP handler: it notes the reply, and when reading it fails the entry becomes a dead letter
(reason ``malformed_message``) and the worker carries on. Nothing else about the channel changes.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import redis

from .. import internals
from ..reliable_fetch import forget_unacked, recorded_tag
from .messages import letter_for_raw_item, message_problem
from .put_back import hold

if TYPE_CHECKING:
    from .consumer import MessageKeeper

logger = logging.getLogger("activejob_celery.dead_letters")

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError)
"""Errors of the connection, not of a message (kombu's own list also has ``KeyError``)."""


def guard_transport(channel: Any, keeper: MessageKeeper) -> bool:
    """Wrap ``channel``'s BRPOP handler (Redis transport only); returns whether it did."""
    handlers = getattr(channel, "handlers", None)
    if not isinstance(handlers, dict) or "BRPOP" not in handlers:
        return False
    read = handlers["BRPOP"]
    if getattr(read, "_aj_guard", False):
        return True

    def guarded_read(**options: Any) -> Any:
        client = channel.client
        original = client.parse_response
        replies: list[Any] = []

        def noting(connection: Any, command_name: str, **kwargs: Any) -> Any:
            reply = original(connection, command_name, **kwargs)
            if command_name == "BRPOP" and reply:
                replies.append(reply)
            return reply

        client.parse_response = noting
        try:
            return read(**options)
        except Exception as error:
            # Without a reply nothing was taken off the queue: the error is the connection's.
            if not replies or not keep_entry(channel, keeper, replies[-1], error):
                raise
            return True
        finally:
            client.__dict__.pop("parse_response", None)

    guarded_read._aj_guard = True  # type: ignore[attr-defined]
    handlers["BRPOP"] = guarded_read
    return True


def keep_entry(channel: Any, keeper: MessageKeeper, reply: Any, error: Exception) -> bool:
    """Store the entry whose delivery raised ``error``, then settle it with the broker.

    Returns False, leaving the error to Celery, for a well-formed message of a known task
    when kombu holds it as delivered (it stays unacked: a reconnect hands it back) or when its
    delivery failed on a connection error (it is held and put back on its queue, see
    :mod:`.put_back`): the failure is the worker's or the connection's, not the message's.
    """
    key, item = reply
    key = key.decode() if isinstance(key, bytes) else str(key)
    queue = key.rsplit(channel.sep, 1)[0]
    message = _as_message(channel, item)
    if message is None:
        # Never became a message the worker took in: keep it, or put it back, and drop the
        # record reliable fetch may have made of it, or kombu would restore it once more.
        forget_unacked(channel, item)
        letter = letter_for_raw_item(item, queue, error, raw_max_bytes=keeper.raw_max_bytes)
        if keeper.keep(letter):
            logger.error("Queue %r held a non-message entry, stored as dead letter %s: %s",
                         queue, letter.id, error)  # fmt: skip
            return True
        hold(channel, keeper, key, item, None, recorded=False, delay=keeper.delay())
        return True
    tag = message.delivery_tag
    delivered = internals.is_delivered(channel, tag)
    well_formed = _well_formed(keeper, message)
    if delivered and well_formed:
        return False  # unacked, so Celery's own handling (a reconnect) cannot lose it
    if well_formed and isinstance(error, CONNECTION_ERRORS):
        # The connection failed, not the message: the entry goes back on its queue, and
        # Celery reconnects as it would. An unacked record reliable fetch made of it stays
        # until then, so a crash meanwhile leaves it to kombu's restore.
        recorded = recorded_tag(channel, message) is not None
        hold(channel, keeper, key, item, tag, recorded=recorded, delay=0.0)
        return False
    if not delivered:
        forget_unacked(channel, item)  # stored or pushed back below: no restore on top
    letter = keeper.letter(message, error, "malformed_message")
    if not keeper.keep(letter):
        if delivered:  # unacked meanwhile: a crash hands it back
            keeper.later(lambda: channel.basic_reject(tag, requeue=True))
        else:
            hold(channel, keeper, key, item, tag, recorded=False, delay=keeper.delay())
        return True
    logger.error("Message %s failed in the consumer, stored as dead letter %s: %s",
                 tag, letter.id, error)  # fmt: skip
    if delivered:
        channel.basic_ack(tag)
    return True


def _well_formed(keeper: MessageKeeper, message: Any) -> bool:
    headers = message.headers if isinstance(message.headers, dict) else {}
    task = headers.get("task")
    if not isinstance(task, str) or task not in keeper.consumer.app.tasks:
        return False
    return message_problem(message, None) is None


def _as_message(channel: Any, item: Any) -> Any:
    try:
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        return channel.Message(json.loads(text), channel=channel)
    except Exception:  # anything that is not a well-formed envelope
        return None
