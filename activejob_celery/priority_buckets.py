"""Job priorities (any integer, lower first, None as 0) onto a broker's few priority levels.

A job priority is any integer and a lower number runs first; None counts as 0 (Rails, Solid
Queue, GoodJob). A broker has a few levels only: kombu's Redis transport keeps one list per
``priority_steps`` entry (``init_app`` sets ten: 0-9, 0 first) and RabbitMQ has ``0..max`` on a
queue declared with ``x-max-priority``. Job priorities are cut into ranges, in order:

    rank 0: below 0;  rank 1: 0 (and None);  then 1, 2, 3, 4, 5-9, 10-19, 20-49, 50-99,
    100-199, 200-499, 500-999, 1000-1999, ... (1, 2, 5 in every decade from 10 on)

and rank ``r`` goes to level ``min(r, levels - 1)``: the most urgent level for negative
priorities, the next for 0, the rest for positive ranges, the last level open-ended. The order
of job priorities is kept everywhere (two jobs may share a level, never swap).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from typing import Any

logger = logging.getLogger(__name__)

REDIS_LEVELS = 10
"""kombu's Redis transport reads a message priority as 0..9 (it clamps anything else)."""
DEFAULT_STEPS = tuple(range(REDIS_LEVELS))
"""The ``priority_steps`` ``init_app`` configures (one Redis list per message priority)."""


def _positive_bounds() -> Iterator[int]:
    """Lower bounds of the positive ranges: 1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500, ..."""
    yield from (1, 2, 3, 4, 5)
    for power in itertools.count(1):
        yield from (10**power, 2 * 10**power, 5 * 10**power)


def rank(priority: int | None, levels: int) -> int:
    """The level index (0 most urgent) of a job ``priority`` among ``levels`` levels.

    Example:
        >>> [rank(p, 10) for p in (-10, None, 0, 1, 4, 5, 9, 10, 20, 50, 10**6)]
        [0, 1, 1, 2, 5, 6, 6, 7, 8, 9, 9]
        >>> [rank(p, 4) for p in (-1, 0, 1, 2, 99)]
        [0, 1, 2, 3, 3]
    """
    last = max(levels, 1) - 1
    value = 0 if priority is None else priority
    if value < 0:
        found = 0
    elif value == 0:
        found = 1
    else:
        found = 1
        for bound in _positive_bounds():
            if bound > value or found >= last:
                break
            found += 1
    return min(found, last)


def ranges(levels: int) -> list[tuple[int | None, int | None]]:
    """The job priorities each level takes, as ``(lowest, highest)`` (None: unbounded).

    Example:
        >>> ranges(4)
        [(None, -1), (0, 0), (1, 1), (2, None)]
    """
    lows: list[int | None] = [None, 0]
    lows += list(itertools.islice(_positive_bounds(), max(levels - 2, 0)))
    lows = lows[: max(levels, 1)]
    highs: list[int | None] = [None if nxt is None else nxt - 1 for nxt in [*lows[1:], None]]
    return list(zip(lows, highs, strict=True))


def redis_steps(app: Any) -> tuple[int, ...]:
    """The Redis priority lists ``app``'s transport fills: its ``priority_steps`` within 0..9.

    kombu clamps a message priority to 0..9 and files it under the highest step not above it,
    so a step above 9 is never used.

    Example:
        >>> redis_steps(app)                                    # doctest: +SKIP
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    """
    conf = getattr(app, "conf", None)
    options = (None if conf is None else conf.get("broker_transport_options")) or {}
    steps: Sequence[Any] = options.get("priority_steps") or DEFAULT_STEPS
    usable = sorted({int(step) for step in steps if 0 <= int(step) < REDIS_LEVELS})
    return tuple(usable) or DEFAULT_STEPS


def check_steps(app: Any) -> bool:
    """WARN once (at ``init_app``) when the Redis ``priority_steps`` cannot keep the order.

    Fewer than three usable steps cannot put negative priorities before 0 before positive ones,
    and a step above 9 is never used. Returns whether the steps are fine.

    Example:
        >>> app.conf.broker_transport_options = {"priority_steps": [0, 9]}  # doctest: +SKIP
        >>> check_steps(app)                                    # doctest: +SKIP
        False
    """
    conf = getattr(app, "conf", None)
    options = (None if conf is None else conf.get("broker_transport_options")) or {}
    steps = [int(step) for step in options.get("priority_steps") or DEFAULT_STEPS]
    usable = redis_steps(app)
    if len(usable) >= 3 and len(set(steps)) == len(usable):
        return True
    logger.warning(
        "broker_transport_options['priority_steps'] = %r gives %d usable Redis priority lists "
        "(kombu reads message priorities 0..9 only), so job priorities share lists: %s. Remove "
        "priority_steps (init_app then sets [0, 1, ..., 9]) to keep negative < 0 < positive.",
        steps,
        len(usable),
        ", ".join(_describe(low, high) for low, high in ranges(len(usable))),
    )
    return False


def _describe(low: int | None, high: int | None) -> str:
    if low is None:
        return "below 0" if high == -1 else "all"
    if high is None:
        return f"{low} and up"
    return str(low) if low == high else f"{low}-{high}"


def redis_priority(priority: int | None, steps: Sequence[int] = DEFAULT_STEPS) -> int:
    """The message priority that puts a job of ``priority`` in its Redis list (0 first).

    Example:
        >>> [redis_priority(p) for p in (-10, None, 0, 5, 10)]
        [0, 1, 1, 6, 7]
        >>> [redis_priority(p, (0, 3, 6, 9)) for p in (-10, None, 0, 5, 10)]
        [0, 3, 3, 9, 9]
    """
    return steps[rank(priority, len(steps))]


def amqp_level(priority: int | None, maximum: int) -> int:
    """RabbitMQ's message priority (higher first) on a queue with ``x-max-priority`` ``maximum``.

    Example:
        >>> [amqp_level(p, 10) for p in (-10, None, 0, 5, 10, 100)]
        [10, 9, 9, 4, 3, 0]
    """
    return maximum - rank(priority, maximum + 1)
