"""Entries a worker popped and could not take in go back on their queue, through a fresh client.

When the delivery of a popped entry fails and the entry is not kept as a dead letter (the store
is down, or the failure was the connection's and the message itself is fine), the worker holds
it and puts it back on the list it came from: at once after a connection error, after the
store's backoff when the store is down. By then the channel that popped it may be gone (a lost
connection closes it), so the put-back uses the app's own client of the broker, which finds a
Sentinel master again after a failover, and a failed try is tried again with a backoff (1, 2, 4
... 300 s) until it is done. The log keeps the entry meanwhile.

An entry reliable fetch recorded as unacked goes back only while its record is still there, in
one script: the record goes and the entry comes back. So kombu's own restore of the record
(after the visibility timeout, or by another worker) and this put-back never both bring it back.

Example:
    >>> hold(channel, keeper, key, item, tag=None, delay=0.0)   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ..broker_queues import broker_url
from ..runtime import runtime_for
from .recorder import backoff_delay

if TYPE_CHECKING:
    from .consumer import MessageKeeper

logger = logging.getLogger("activejob_celery.dead_letters")

# KEYS: the list the entry was popped from, kombu's unacked hash and index (prefixed).
# ARGV[1]: the entry as popped; ARGV[2]: the tag of its unacked record, '' when it has none.
# Returns 1 when the entry went back, 0 when its record was gone (restored already).
PUT_BACK = """
if ARGV[2] ~= '' then
  if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
  redis.call('ZREM', KEYS[3], ARGV[2])
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"""


@dataclasses.dataclass
class HeldEntry:
    """A popped entry the worker holds until it is back on its queue.

    Example:
        >>> HeldEntry("jobs", b"{}", None, "unacked", "unacked_index").tag is None
        True
    """

    key: str
    """The Redis list it was popped from, with kombu's key prefix."""
    item: bytes
    tag: str | None
    """The tag of its unacked record (reliable fetch made one), or None."""
    unacked_key: str
    unacked_index_key: str
    tries: int = 0


def hold(
    channel: Any, keeper: MessageKeeper, key: str, item: Any, tag: str | None, delay: float
) -> None:
    """Hold ``item`` popped from ``key`` and put it back on that list in ``delay`` seconds.

    ``tag`` names its unacked record, when it has one: it goes back only while that exists.
    """
    prefix = getattr(channel, "global_keyprefix", "") or ""
    raw = item if isinstance(item, bytes) else str(item).encode("utf-8", "surrogateescape")
    entry = HeldEntry(
        prefix + key,  # kombu takes its key prefix off the reply's list name
        raw,
        tag,
        prefix + str(getattr(channel, "unacked_key", "unacked")),
        prefix + str(getattr(channel, "unacked_index_key", "unacked_index")),
    )
    logger.error(
        "Entry from %r is put back on its queue in %.0f s: %r",
        key, delay, raw[: keeper.raw_max_bytes],
    )  # fmt: skip
    keeper.later(lambda: put_back(keeper, entry), delay)


def put_back(keeper: MessageKeeper, entry: HeldEntry) -> bool:
    """Put ``entry`` back on its queue now; on failure try again later. Returns whether it went.

    Example:
        >>> put_back(keeper, entry)                           # doctest: +SKIP
        True
    """
    app = keeper.consumer.app
    try:
        url = broker_url(app)
        if url is None:
            raise ValueError("no broker URL to put it back through")
        client = runtime_for(app).clients.get(url)
        keys = (entry.key, entry.unacked_key, entry.unacked_index_key)
        script = client.register_script(PUT_BACK)
        moved = script(keys=keys, args=(entry.item, entry.tag or ""))
    except Exception as error:  # the broker is still down: the entry stays held
        delay = backoff_delay(entry.tries)
        entry.tries += 1
        logger.critical(
            "Could not put an entry back on %r (try %d, again in %.0f s): %s. Entry: %r",
            entry.key, entry.tries, delay, error, entry.item[: keeper.raw_max_bytes],
        )  # fmt: skip
        keeper.later(lambda: put_back(keeper, entry), delay)
        return False
    if moved:
        logger.warning("Held entry is back on %r (%d tries had failed)", entry.key, entry.tries)
    else:
        logger.warning("Entry of %r was restored from its unacked record already", entry.key)
    return bool(moved)
