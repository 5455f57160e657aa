r"""kombu's Redis acknowledgement, sent as the same MULTI/EXEC packed by hand.

A worker acknowledges every message it ran (jobs acknowledge late). kombu's Redis ``QoS.ack``
drops the message's entry from its ``unacked`` index and hash in a MULTI/EXEC: it builds a
client and a pipeline, encodes each argument through redis-py's generic packer and reads four
replies through the pipeline's response callbacks (a sixth of a worker's profiled CPU per job,
about a tenth of its real CPU, on a small machine). :class:`PackedAck` sends the same four
commands (``MULTI``, ``ZREM``, ``HDEL``, ``EXEC``, byte for byte what kombu's pipeline sends;
tests/integration/test_packed_ack.py) in one write on a connection of the channel's own pool,
under the connection's retry policy, then does kombu's in-memory part of the ack. A channel
whose pool finds its server per connection (Sentinel), a channel whose transport kombu dropped,
or a kombu whose ``ack`` is not the expected one, keeps kombu's own.

Example:
    >>> ack = PackedAck.install(channel)                  # doctest: +SKIP
    >>> channel.qos.ack(message.delivery_tag)             # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from . import internals
from .packed_commands import pack, plain_pool, run_on
from .transport_gone import transport_gone


class PackedAck:
    """A channel's QoS ``ack`` that sends kombu's MULTI/EXEC packed by hand.

    The channel's pool is read at each ack, as kombu reads it (kombu makes a new one after a
    fork); a channel whose transport kombu dropped gets kombu's own ack (and its error).

    Example:
        >>> ack = PackedAck.install(channel)              # doctest: +SKIP
        >>> ack is None     # a Sentinel channel keeps kombu's ack   # doctest: +SKIP
        False
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.qos = channel.qos
        self.plain_ack = self.qos.ack
        # The pool, its encoder and the two keys encoded by it: one tuple, replaced whole.
        self.encoded: tuple[Any, Any, bytes, bytes] = (None, None, b"", b"")

    @classmethod
    def install(cls, channel: Any) -> PackedAck | None:
        """Put the packed ack on ``channel``'s QoS; None (kombu's own stays) where it cannot be."""
        if not internals.can_pack_ack(channel.qos) or not plain_pool(channel.pool):
            return None
        packed = cls(channel)
        channel.qos.ack = packed.ack
        return packed

    def ack(self, delivery_tag: Any) -> None:
        """Drop ``delivery_tag``'s unacked entry as kombu's ``QoS.ack`` does, then forget it."""
        channel = self.channel
        if transport_gone(channel):
            self.plain_ack(delivery_tag)
            return
        pool = channel.pool
        encoded = self.encoded
        if pool is not encoded[0]:
            if not plain_pool(pool):
                self.plain_ack(delivery_tag)
                return
            encoded = self.encoded = self._encoded_for(pool)
        _, encode, index_key, hash_key = encoded
        tag = encode(delivery_tag)
        run_on(pool, [pack((b"ZREM", index_key, tag)), pack((b"HDEL", hash_key, tag))])
        internals.ack_in_memory(self.qos, delivery_tag)

    def _encoded_for(self, pool: Any) -> tuple[Any, Any, bytes, bytes]:
        encode = pool.get_encoder().encode
        prefix = getattr(self.channel, "global_keyprefix", "") or ""
        index_key, hash_key = internals.unacked_keys(self.qos)
        return pool, encode, encode(prefix + index_key), encode(prefix + hash_key)
