"""One Redis round trip less per message: kombu's unacked write is skipped where the script made it.

Reliable fetch's script (:mod:`activejob_celery.reliable_fetch`) records each message it pops
in kombu's ``unacked`` hash and index, in kombu's format. kombu's Redis ``QoS.append`` then
writes the same entry again and waits for the pipeline's reply: a round trip per message that
changes nothing in Redis. The script names the delivery tag it recorded in a third reply
element; the channel's reply reader takes it off (kombu sees BRPOP's two elements), and the
channel's ``QoS.append`` skips the write for that one tag, keeping kombu's in-memory
bookkeeping. Every other message (the blocking ``BRPOP`` after empty queues, an item the
script popped without recording, ``basic_get``) gets kombu's own write, unchanged.

kombu's write also scores the entry with the time the worker read the reply; the script's
score is the time the pop was sent. kombu 5.7 leaves a reply unread while the prefetch window
is full, so a reply read more than :data:`FRESH_FOR` seconds after its pop was sent gets
kombu's write too: the visibility timeout still counts from (about) the time the worker took
the message, as with kombu's own fetch.

Example:
    >>> skip = UnackedSkip.install(channel)                       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from . import internals

FRESH_FOR = 1.0
"""Seconds after the pop was sent within which the script's score stands for kombu's."""


class UnackedSkip:
    """The tag the script's last reply recorded, and the QoS ``append`` that reads it.

    Example:
        >>> skip = UnackedSkip.install(channel)                   # doctest: +SKIP
        >>> skip is None          # kombu's QoS is not the expected shape   # doctest: +SKIP
        False
    """

    def __init__(self, qos: Any) -> None:
        self.qos = qos
        self.plain_append = qos.append
        self.recorded: str | None = None  # set by the reply being read, used by its append
        self.fresh = True  # the reply being read came soon enough after its pop was sent
        self.named: str | None = None  # the tag the last reply named (fresh or not)

    @classmethod
    def install(cls, channel: Any) -> UnackedSkip | None:
        """Install the skip on ``channel`` (its BRPOP reply reader and its QoS), or do nothing.

        Returns None when kombu's QoS is not the expected shape (``check_shapes`` has logged
        one WARNING then); the script's replies carry no third element in that case.
        """
        qos = channel.qos
        if not internals.can_skip_unacked_write(qos):
            return None
        skip = cls(qos)
        client = channel.client
        plain_parse = client.response_callbacks.get("BRPOP")
        client.set_response_callback("BRPOP", skip.parse_reply(plain_parse))
        qos.append = skip.append
        return skip

    def parse_reply(self, plain_parse: Any) -> Any:
        """A BRPOP reply callback that takes the recorded tag off a three-element reply."""

        def parse(response: Any, **options: Any) -> Any:
            self.recorded = self.named = None
            if isinstance(response, list | tuple) and len(response) == 3:
                tag = response[2]
                self.named = tag.decode("utf-8", "replace") if isinstance(tag, bytes) else tag
                if self.fresh:
                    self.recorded = self.named
                response = response[:2]
            if plain_parse is None:
                return response
            return plain_parse(response, **options)

        return parse

    def done(self) -> None:
        """Forget the recorded tag once the reply's delivery is over (called after each read)."""
        self.recorded = None

    def append(self, message: Any, delivery_tag: Any) -> None:
        """Do kombu's ``QoS.append``, without its Redis write when the script already made it."""
        if self.recorded is not None and delivery_tag == self.recorded:
            self.recorded = None
            internals.append_in_memory(self.qos, message, delivery_tag)
            return
        self.plain_append(message, delivery_tag)
