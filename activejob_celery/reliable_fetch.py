"""Reliable fetch on Redis: a message is recorded as unacknowledged in the same step that pops it.

kombu's Redis channel takes a message off its queue with ``BRPOP`` and writes it to the
``unacked`` hash only once the worker has read and parsed the reply. While the reply waits in
the socket (kombu 5.7 even parks it there while the prefetch window is full), the message is
in neither place, and a worker killed then (SIGKILL, the OOM killer, a lost container) loses
it for good, ``acks_late`` or not. The consumer step below makes the channel pop with a Lua
script that moves the message into kombu's own ``unacked`` hash and index atomically, in the
format kombu writes, so kombu's visibility-timeout restore brings it back after a crash.

A script cannot block, so when the queues are empty the channel waits with kombu's own
``BRPOP`` once and goes back to the script after it. What is left of the window is the first
message a waiting worker receives after its queues were empty, until kombu records it
(normally well under a millisecond).
"""

from __future__ import annotations

import json
import logging
import re
import time
from queue import Empty
from typing import Any

from celery import bootsteps
from kombu.exceptions import ChannelError

from . import internals
from .packed_ack import PackedAck
from .queue_order import install as install_queue_order, pop_keys
from .transport_gone import guard_dead_transport
from .unacked_skip import FRESH_FOR, UnackedSkip

logger = logging.getLogger(__name__)

# KEYS: the queue lists in the order BRPOP would try them, then kombu's unacked hash and index.
# ARGV[1]: the time to score the unacked entry with (kombu compares it with its own clock).
# ARGV[2]: '1' to name a recorded entry's tag in a third reply element (see unacked_skip.py).
# A value that is not a kombu envelope is only popped, as BRPOP would, and left to the worker.
# Redis's cjson accepts a few forms Python's json does not (hex, nan, raw control characters,
# ...); such a record is sent back to its queue by the restore guard below, not read by kombu.
POP_AND_RECORD = """
local count = #KEYS - 2
local unacked, unacked_index = KEYS[count + 1], KEYS[count + 2]
for i = 1, count do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    local decoded, message = pcall(cjson.decode, item)
    local properties = decoded and type(message) == 'table' and message['properties']
    if type(properties) == 'table' then
      local tag, info = properties['delivery_tag'], properties['delivery_info']
      if type(tag) == 'string' and type(info) == 'table'
          and type(info['exchange']) == 'string' and type(info['routing_key']) == 'string' then
        redis.call('ZADD', unacked_index, ARGV[1], tag)
        redis.call('HSET', unacked, tag, '[' .. item .. ', ' .. cjson.encode(info['exchange'])
          .. ', ' .. cjson.encode(info['routing_key']) .. ']')
        if ARGV[2] == '1' then return {KEYS[i], item, tag} end
      end
    end
    return {KEYS[i], item}
  end
end
return false
"""

# The tail the script writes after the entry: `, "<exchange>", "<routing key>"]`.
_RECORD_TAIL = re.compile(rb', ("(?:[^"\\]|\\.)*"), ("(?:[^"\\]|\\.)*")\]$')


class ReliableFetch(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep added by ``init_app`` (``activejob_reliable_fetch``, on by default).

    Example:
        >>> app.conf.activejob_reliable_fetch = False   # keep kombu's plain BRPOP  # doctest: +SKIP
    """

    label = "activejob reliable fetch"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        """Switch the task consumer's Redis channel (a new one after each reconnect)."""
        channel = getattr(c.task_consumer, "channel", None)
        if channel is not None:
            install_queue_order(c.app, channel)  # first: the plain BRPOP kept below uses it
            use_reliable_fetch(channel)


def use_reliable_fetch(channel: Any) -> bool:
    """Make a kombu Redis ``channel`` record each message as unacked as it pops it.

    Returns whether it did: other transports, a channel without kombu's unacked hash
    (``ack_emulation`` off) and a kombu whose Redis channel has changed shape keep their own
    fetch. Call it before the channel's consumers are registered (the bootstep does): once any
    consumer on the channel is ``no_ack``, the channel goes back to BRPOP for good.

    Example:
        >>> use_reliable_fetch(consumer.task_consumer.channel)  # doctest: +SKIP
        True
    """
    if getattr(channel, "_aj_reliable_fetch", None) is not None:
        return True
    if not internals.is_kombu_redis_channel(channel) or "BRPOP" not in channel.handlers:
        return False
    if not internals.records_unacked(channel):
        _warn_once(
            "Reliable fetch is off: the broker channel keeps no unacked hash (kombu's "
            "ack_emulation is off in broker_transport_options); a worker killed mid-fetch "
            "can lose the message it was fetching"
        )
        return False
    pop = _RecordingPop(channel)
    internals.set_pop_starter(channel, pop.start)
    channel.handlers["BRPOP"] = pop.read
    channel.basic_consume = pop.basic_consume
    _guard_restore(channel)
    channel._aj_reliable_fetch = pop
    return True


def recorded_tag(channel: Any, message: Any) -> str | None:
    """The tag the script recorded the message being read under (while the reply is read), or None.

    Example:
        >>> recorded_tag(channel, message)                      # doctest: +SKIP
        '2f4c...'
    """
    pop = getattr(channel, "_aj_reliable_fetch", None)
    if not isinstance(pop, _RecordingPop) or not pop.scripted:
        return None
    if pop.skip is not None:  # the script named the tag it recorded in its reply
        return pop.skip.named if pop.skip.named == message.delivery_tag else None
    tag, info = message.delivery_tag, message.delivery_info
    fields = (info.get("exchange"), info.get("routing_key")) if isinstance(info, dict) else (0,)
    return tag if all(isinstance(each, str) for each in (tag, *fields)) else None


def _guard_restore(channel: Any) -> None:
    # kombu's restore_visible stops at the first record it cannot read, leaving every later
    # one unrestored. Only the script writes such records; put their entry back on its queue.
    qos = channel.qos
    plain_restore = getattr(qos, "restore_by_tag", None)
    if plain_restore is None:
        return

    def restore_by_tag(tag: Any, client: Any = None, leftmost: bool = False) -> Any:
        try:
            return plain_restore(tag, client=client, leftmost=leftmost)
        except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
            moved = requeue_unreadable_record(channel, tag, client)
            logger.warning(
                "Unacked record %s is not JSON kombu reads (%s); %s", tag, error,
                "its entry went back to its queue, where the worker stores it as a dead letter"
                if moved
                else "it is not in reliable fetch's format either, so it stays where it is",
            )  # fmt: skip
            return None

    qos.restore_by_tag = restore_by_tag
    guard_dead_transport(channel)


def requeue_unreadable_record(channel: Any, tag: Any, client: Any = None) -> bool:
    """Move the entry of an unacked record kombu cannot parse back to its queue, as is.

    Returns whether a record was moved; one not in the script's format is left where it is.
    The worker then pops the entry again and, unable to read it, stores it as a dead letter
    (reason ``malformed_message``).

    Example:
        >>> requeue_unreadable_record(channel, "2f4c...")      # doctest: +SKIP
        True
    """
    with channel.conn_or_acquire(client) as redis_client:
        record = redis_client.hget(channel.unacked_key, tag)
        is_record = isinstance(record, bytes) and record.startswith(b"[")
        tail = _RECORD_TAIL.search(record) if is_record else None
        if tail is None:
            return False  # not in the script's format: leave it for an operator, lose nothing
        exchange, routing_key = json.loads(tail.group(1)), json.loads(tail.group(2))
        pipe = redis_client.pipeline()  # MULTI/EXEC: the record goes and the entry comes back
        internals.unacked_pipeline(channel, tag, pipe)
        for queue in internals.routed_queues(channel, exchange, routing_key):
            pipe.lpush(internals.priority_list(channel, queue, 0), record[1 : tail.start()])
        pipe.execute()
        return True


class _RecordingPop:
    """The channel's send-a-pop and read-its-reply pair, with the script in place of BRPOP."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.plain_start = internals.pop_starter(channel)
        self.plain_read = channel.handlers["BRPOP"]
        self.plain_consume = channel.basic_consume
        self.scripted = False  # whether the pop in flight is the script
        self.sent_at = 0.0  # when it was sent (time.monotonic)
        self.wait_next = False  # the script found the queues empty: block in BRPOP next
        self.all_acknowledge = True  # no consumer of the channel was registered with no_ack
        self.skip = UnackedSkip.install(channel)  # None: kombu writes every unacked entry
        self.name_tag = "1" if self.skip is not None else "0"
        self.packed_ack = PackedAck.install(channel)  # None: kombu's own ack

    def basic_consume(self, *args: Any, **kwargs: Any) -> Any:
        # kombu's signature is (queue, no_ack, callback, consumer_tag, **kwargs).
        if kwargs.get("no_ack", args[1] if len(args) > 1 else False):
            self.all_acknowledge = False
        return self.plain_consume(*args, **kwargs)

    def start(self, timeout: float | None = None) -> None:
        channel = self.channel
        if self.wait_next or not self.all_acknowledge:
            self.scripted = False
            self.plain_start(timeout)
            return
        queues = internals.next_queues(channel)
        if not queues:
            return
        prefix = getattr(channel, "global_keyprefix", "") or ""
        keys = pop_keys(channel, queues)  # kombu's order, or the worker's queue order
        keys += [channel.unacked_key, channel.unacked_index_key]
        connection = channel.client.connection
        self.sent_at = time.monotonic()
        internals.mark_pop_sent(channel, connection, self.sent_at)
        self.scripted = True
        connection.send_command(
            "EVAL",
            POP_AND_RECORD,
            len(keys),
            *(prefix + key for key in keys),
            repr(time.time()),
            self.name_tag,
        )

    def read(self, **options: Any) -> Any:
        # The script replies in BRPOP's shape, so kombu's own reader (and any guard wrapped
        # around it) handles both; it raises Empty when there was nothing to pop.
        scripted, self.wait_next = self.scripted, False
        if self.skip is not None:  # a reply left unread for long: kombu's write, fresh score
            self.skip.fresh = time.monotonic() - self.sent_at < FRESH_FOR
        try:
            return self.plain_read(**options)
        except Empty:
            self.wait_next = scripted
            raise
        finally:
            if self.skip is not None:
                self.skip.done()


def forget_unacked(channel: Any, item: bytes | str) -> None:
    """Drop the unacked record of a queue entry the worker popped but never took in.

    When the worker keeps an entry it popped as a dead letter, its record must go too, or kombu
    would restore it once more after the visibility timeout. ``item`` is the entry as popped.
    Only a record that holds exactly this entry is dropped, so an entry Python cannot parse
    (and Redis's Lua JSON decoder could) is found too.

    Example:
        >>> forget_unacked(channel, raw_entry)                  # doctest: +SKIP
    """
    if getattr(channel, "_aj_reliable_fetch", None) is None:
        return
    raw = item if isinstance(item, bytes) else item.encode("utf-8", "surrogateescape")
    entry_start = b"[" + raw + b", "
    try:
        with channel.conn_or_acquire() as client:
            for tag in _candidate_tags(raw):
                stored = client.hget(channel.unacked_key, tag)
                if isinstance(stored, bytes) and stored.startswith(entry_start):
                    internals.unacked_pipeline(channel, tag).execute()
    except (ChannelError, *getattr(channel, "connection_errors", ())) as error:
        logger.warning("Could not drop the unacked record of a dead-lettered entry: %s", error)


_TAG_IN_JSON = re.compile(rb'"delivery_tag"\s*:\s*"([^"\\]*)"')


def _candidate_tags(raw: bytes) -> list[str]:
    tags = [match.decode("utf-8", "replace") for match in _TAG_IN_JSON.findall(raw)]
    try:
        message = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return tags
    properties = message.get("properties") if isinstance(message, dict) else None
    tag = properties.get("delivery_tag") if isinstance(properties, dict) else None
    if isinstance(tag, str) and tag not in tags:
        tags.append(tag)
    return tags


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)
