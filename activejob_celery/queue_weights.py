"""Queue weights and strict queue order: parsing, checks and the order of each fetch.

Sidekiq's weighted random order: a worker with weights ``critical=6, default=2, low=1`` orders
its queues anew for every fetch, by a weighted random draw without replacement (Sidekiq repeats
each queue ``weight`` times, shuffles, and keeps each queue's first place), so ``critical`` comes
first in 6 fetches out of 9, ``default`` in 2 and ``low`` in 1, and no queue starves. Strict
order (Solid Queue's ``queues:``, Sidekiq without weights) always tries the queues in the order
given. The classes below have the interface of kombu's queue cycles (``update``, ``consume``,
``rotate``); :mod:`.queue_order` puts them on a worker's Redis channel.

Example:
    >>> parse_weights("critical=6,default=2,low=1")
    {'critical': 6, 'default': 2, 'low': 1}
    >>> WeightedCycle({"critical": 6}, rng=random.Random(1)).update(["critical", "low"])
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigurationError

ORDERS = ("weighted", "strict", "round_robin")
"""The values of ``activejob_queue_order`` / ``--queue-order``."""

UNWEIGHTED = 1
"""The weight of a consumed queue that the weights do not name."""


def parse_weights(text: str, where: str = "--queue-weights") -> dict[str, int]:
    """Read ``critical=6,default=2,low=1`` (``where`` names the source in errors).

    Example:
        >>> parse_weights("critical=6, low=1")
        {'critical': 6, 'low': 1}
        >>> parse_weights("critical:6")
        Traceback (most recent call last):
        ...
        activejob_celery.errors.ConfigurationError: --queue-weights 'critical:6': ...
    """
    weights: dict[str, Any] = {}
    for entry in (part.strip() for part in text.split(",")):
        name, equals, value = entry.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name or not value.lstrip("-").isdigit():
            raise ConfigurationError(
                f"{where} {text!r}: write each queue as name=weight, separated by commas, such "
                f"as critical=6,default=2,low=1 (a weight is a whole number; 0 counts as 1; "
                f"'name:N' is GoodJob's thread count, not a weight)"
            )
        if name in weights:
            raise ConfigurationError(f"{where} {text!r}: queue {name!r} is named twice")
        weights[name] = int(value)
    return check_weights(weights, where)


def check_weights(weights: Any, where: str = "activejob_queue_weights") -> dict[str, int]:
    """Return ``weights`` as a dict of queue name to weight, or raise ``ConfigurationError``.

    Accepts a mapping, a list of ``(name, weight)`` pairs (Sidekiq's YAML ``[critical, 6]``)
    or the ``--queue-weights`` text.

    Example:
        >>> check_weights([["critical", 6], ["low", 1]])
        {'critical': 6, 'low': 1}
        >>> check_weights({"low": 0})
        Traceback (most recent call last):
        ...
        activejob_celery.errors.ConfigurationError: activejob_queue_weights: ...
    """
    if isinstance(weights, str):
        return parse_weights(weights, where)
    if not isinstance(weights, Mapping):
        try:
            weights = _pairs(weights)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{where} must map queue names to weights, such as "
                f'{{"critical": 6, "default": 2, "low": 1}}, not {weights!r}'
            ) from None
    if not weights:
        raise ConfigurationError(f"{where} is empty: name at least one queue and its weight")
    checked: dict[str, int] = {}
    for name, weight in weights.items():
        if not isinstance(name, str) or not name.strip() or "*" in name:
            raise ConfigurationError(
                f"{where}: {name!r} is not a queue name (weights name queues in full, no patterns)"
            )
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ConfigurationError(
                f"{where}: the weight of queue {name!r} is {weight!r}; a weight is a whole "
                "number of 0 or more (the share of fetches that try this queue first)"
            )
        # Sidekiq's floor: a queue of weight 0 is still polled, as if its weight were 1.
        checked[name] = max(weight, 1)
    return checked


def _pairs(items: Iterable[Any]) -> dict[Any, Any]:
    pairs: dict[Any, Any] = {}
    for item in items:
        if isinstance(item, str | bytes) or len(item) != 2:
            raise ValueError(item)
        name, weight = item
        if name in pairs:
            raise ValueError(name)
        pairs[name] = weight
    return pairs


def check_order(order: Any, where: str = "activejob_queue_order") -> str:
    """Return ``order`` if it is one of :data:`ORDERS`, else raise ``ConfigurationError``.

    Example:
        >>> check_order("strict")
        'strict'
    """
    if order not in ORDERS:
        raise ConfigurationError(
            f"{where}={order!r}; use 'weighted' (with queue weights), 'strict' (the queues in "
            "the order -Q lists them, always the first non-empty) or 'round_robin' (Celery's)"
        )
    return str(order)


def check_queue_settings(weights: Any, order: Any) -> dict[str, int] | None:
    """Check ``activejob_queue_weights`` and ``activejob_queue_order`` together.

    Returns the weights as a dict (None when unset). The worker checks the queue names.

    Example:
        >>> check_queue_settings("critical=6,low=1", None)
        {'critical': 6, 'low': 1}
    """
    checked = None if weights is None else check_weights(weights)
    if order is not None:
        check_order(order)
    if order == "weighted" and checked is None:
        raise ConfigurationError(
            "activejob_queue_order='weighted' needs activejob_queue_weights, such as "
            '{"critical": 6, "default": 2, "low": 1}'
        )
    if order in ("strict", "round_robin") and checked is not None:
        raise ConfigurationError(
            f"activejob_queue_order={order!r} takes no weights: remove activejob_queue_weights, "
            "or set activejob_queue_order='weighted'"
        )
    return checked


def draw(queues: list[str], weights: Mapping[str, int], rng: random.Random) -> list[str]:
    """``queues`` in a weighted random order: each next place drawn with P = weight / sum left.

    This is the order Sidekiq's shuffle-and-dedupe gives (Efraimidis-Spirakis keys, so the cost
    does not grow with the weights). A queue without a weight counts :data:`UNWEIGHTED`.

    Example:
        >>> draw(["low", "critical"], {"critical": 6, "low": 1}, random.Random(3))
        ['critical', 'low']
    """
    keyed = [
        (rng.random() ** (1.0 / weights.get(queue, UNWEIGHTED)), index, queue)
        for index, queue in enumerate(queues)
    ]
    keyed.sort(reverse=True)
    return [queue for _, _, queue in keyed]


class WeightedCycle:
    """A kombu queue cycle whose every ``consume`` is a fresh weighted draw.

    Example:
        >>> cycle = WeightedCycle({"critical": 6, "low": 1}, rng=random.Random(0))
        >>> cycle.update(["critical", "low"])
        >>> sorted(cycle.consume(2))
        ['critical', 'low']
    """

    def __init__(self, weights: Mapping[str, int], rng: random.Random | None = None) -> None:
        self.weights = dict(weights)
        self.items: list[str] = []
        self.rng = rng or random.Random()

    def update(self, items: Iterable[str]) -> None:
        """Set the queues (kombu calls it whenever the consumed queues change)."""
        self.items[:] = items

    def consume(self, n: int) -> list[str]:
        """The first ``n`` queues in a new weighted order (kombu asks for all of them)."""
        return draw(self.items[:n], self.weights, self.rng)

    def rotate(self, last_used: str) -> str:
        """Nothing to rotate: the next ``consume`` draws again."""
        return last_used


class StrictCycle(WeightedCycle):
    """A kombu queue cycle that always gives the queues in one order (``ranks`` first).

    Example:
        >>> cycle = StrictCycle(["critical", "default"])
        >>> cycle.update(["low", "default", "critical"])
        >>> cycle.consume(3)
        ['critical', 'default', 'low']
    """

    def __init__(self, ranks: Iterable[str]) -> None:
        super().__init__({})
        self.ranks = {name: index for index, name in enumerate(ranks)}

    def consume(self, n: int) -> list[str]:
        """The first ``n`` queues: ranked ones in rank order, then the rest as consumed."""
        last = len(self.ranks)
        return sorted(self.items[:n], key=lambda name: self.ranks.get(name, last))


__all__ = [
    "StrictCycle",
    "WeightedCycle",
    "check_order",
    "check_queue_settings",
    "check_weights",
    "draw",
    "parse_weights",
]
