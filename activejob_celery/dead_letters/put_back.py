"""Entries a worker popped and could not take in go back on their queue, through a fresh client.

When the delivery of a popped entry fails and the entry is not kept as a dead letter (the store
is down, or the failure was the connection's and the message itself is fine), the worker holds
it and puts it back on the list it came from: at once after a connection error, after the
store's backoff when the store is down. By then the channel that popped it may be gone (a lost
connection closes it), so the put-back uses the app's own client of the broker, which finds a
Sentinel master again after a failover, and a failed try is tried again with a backoff (1, 2, 4
... 300 s) until it is done. The log keeps the entry meanwhile; a worker shutting down tries
each held entry once more.

The put-back is one script, done once per hold whatever the retries (a marker key), and it
drops kombu's unacked record of the entry as it pushes it. An entry reliable fetch recorded
goes back only while that record is still there: kombu's restore of the record (after the
visibility timeout, or by another worker) and this put-back never both bring it back, and a
record lost in a failover means its pop was lost too (one script made both).

Example:
    >>> hold(channel, keeper, key, item, tag, recorded=False, delay=0.0)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ..broker_queues import broker_url
from ..ids import new_id
from ..runtime import runtime_for
from .recorder import backoff_delay

if TYPE_CHECKING:
    from .consumer import MessageKeeper

logger = logging.getLogger("activejob_celery.dead_letters")

# KEYS: the list the entry was popped from, kombu's unacked hash and index (prefixed), the
# hold's marker. ARGV: the entry as popped, its delivery tag ('' for an entry that is not a
# message), '1' when reliable fetch recorded it, the marker's lifetime in seconds.
# Returns 1 when the entry went back, 0 when this hold was done already, -1 when the record
# it needed was gone.
PUT_BACK = """
if not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[4]) then return 0 end
local had = 0
if ARGV[2] ~= '' then
  had = redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
end
if ARGV[3] == '1' and had == 0 then return -1 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"""
MARKER_SECONDS = 86400
"""How long a hold's marker keeps a late retry of a done put-back from pushing again."""


@dataclasses.dataclass
class HeldEntry:
    """A popped entry the worker holds until it is back on its queue.

    Example:
        >>> HeldEntry("jobs", b"{}", "", False, "unacked", "unacked_index", "m").recorded
        False
    """

    key: str
    """The Redis list it was popped from, with kombu's key prefix."""
    item: bytes
    tag: str
    """Its delivery tag ('' for an entry that is not a message)."""
    recorded: bool
    """Whether reliable fetch recorded it as unacked (it goes back only while that stands)."""
    unacked_key: str
    unacked_index_key: str
    marker: str
    tries: int = 0


def hold(
    channel: Any,
    keeper: MessageKeeper,
    key: str,
    item: Any,
    tag: str | None,
    *,
    recorded: bool,
    delay: float,
) -> None:
    """Hold ``item`` popped from ``key`` and put it back on that list in ``delay`` seconds."""
    prefix = getattr(channel, "global_keyprefix", "") or ""
    raw = item if isinstance(item, bytes) else str(item).encode("utf-8", "surrogateescape")
    entry = HeldEntry(
        prefix + key,  # kombu takes its key prefix off the reply's list name
        raw,
        tag if isinstance(tag, str) else "",  # a tag that is not text names no kombu record
        recorded,
        prefix + str(getattr(channel, "unacked_key", "unacked")),
        prefix + str(getattr(channel, "unacked_index_key", "unacked_index")),
        runtime_for(keeper.consumer.app).settings.key("put_back", new_id()),
    )
    held(keeper)[entry.marker] = entry
    logger.error(
        "Entry from %r is put back on its queue in %.0f s: %r",
        key, delay, raw[: keeper.raw_max_bytes],
    )  # fmt: skip
    keeper.later(lambda: put_back(keeper, entry), delay)


def held(keeper: MessageKeeper) -> dict[str, HeldEntry]:
    """The entries the worker of ``keeper`` holds, by marker (kept across reconnects)."""
    consumer = keeper.consumer
    entries: dict[str, HeldEntry] | None = getattr(consumer, "_aj_held_entries", None)
    if entries is None:
        entries = consumer._aj_held_entries = {}
    return entries


def put_back(keeper: MessageKeeper, entry: HeldEntry, *, again: bool = True) -> bool:
    """Put ``entry`` back on its queue now; on failure try again later (``again``).

    Returns whether the try is over (the entry went back, or was not needed there).

    Example:
        >>> put_back(keeper, entry)                           # doctest: +SKIP
        True
    """
    app = keeper.consumer.app
    try:
        url = broker_url(app, read=True)
        if url is None:
            raise ValueError("no broker URL to put it back through")
        script = runtime_for(app).clients.get(url).register_script(PUT_BACK)
        keys = (entry.key, entry.unacked_key, entry.unacked_index_key, entry.marker)
        done = script(keys=keys, args=(entry.item, entry.tag, int(entry.recorded), MARKER_SECONDS))
    except Exception as error:  # the broker is still down: the entry stays held
        delay = backoff_delay(entry.tries)
        entry.tries += 1
        logger.critical(
            "Could not put an entry back on %r (try %d%s): %s. Entry: %r",
            entry.key, entry.tries, f", again in {delay:.0f} s" if again else ", the last",
            error, entry.item[: keeper.raw_max_bytes],
        )  # fmt: skip
        if again:
            keeper.later(lambda: put_back(keeper, entry), delay)
        return False
    held(keeper).pop(entry.marker, None)
    if done == -1:
        logger.error(
            "Entry of %r was not put back: its unacked record is gone (restored already, or "
            "lost with its pop in a failover). Entry: %r",
            entry.key, entry.item[: keeper.raw_max_bytes],
        )  # fmt: skip
    else:
        logger.warning("Held entry is back on %r (%d tries had failed)", entry.key, entry.tries)
    return True


def put_back_all(keeper: MessageKeeper) -> None:
    """Try each held entry once more now (the worker is shutting down; its timer stops).

    Example:
        >>> put_back_all(keeper)                                  # doctest: +SKIP
    """
    for entry in list(held(keeper).values()):
        put_back(keeper, entry, again=False)
