r"""The Redis lists a worker's pop tries, in order: worked out once per channel and queue list.

kombu names a queue's priority lists from the queue and the channel's ``priority_steps``; a
pop asks for the same few queue lists over and over (one per fetch), so the names are kept per
channel, keyed by the queue list and the order, and a pop costs a dictionary lookup.

Example:
    >>> pop_keys(channel, ["critical", "low"])     # priority_steps [0, 9]  # doctest: +SKIP
    ['critical', 'critical\x06\x169', 'low', 'low\x06\x169']
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

from . import internals

_MAX_LISTS = 512
"""Queue lists kept per channel (a weighted order makes many); past it the cache starts over."""

_known: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], list[str]]] = (
    weakref.WeakKeyDictionary()
)


def pop_keys(channel: Any, queues: list[str]) -> list[str]:
    r"""The Redis lists of ``queues`` in the order a pop tries them (no global key prefix).

    With a queue order: queue by queue, each queue's priority lists in turn. Otherwise kombu's
    order: each priority step across all queues. The list returned is the caller's own.

    Example:
        >>> pop_keys(channel, ["critical", "low"])     # priority_steps [0, 9]  # doctest: +SKIP
        ['critical', 'critical\x06\x169', 'low', 'low\x06\x169']
    """
    steps = channel.priority_steps
    ordered = getattr(channel, "_aj_queue_order", None) is not None
    key = (ordered, tuple(steps), *queues)
    try:
        known = _known[channel]
    except (KeyError, TypeError):  # TypeError: a channel that cannot be weakly referenced
        known = {}
        with contextlib.suppress(TypeError):
            _known[channel] = known
    keys = known.get(key)
    if keys is None:
        if ordered:
            pairs = [(queue, pri) for queue in queues for pri in steps]
        else:
            pairs = [(queue, pri) for pri in steps for queue in queues]
        keys = [internals.priority_list(channel, queue, pri) for queue, pri in pairs]
        if len(known) >= _MAX_LISTS:
            known.clear()
        known[key] = keys
    return list(keys)
