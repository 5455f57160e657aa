"""Reading the per-class statistics: counts and p50/p95 durations over the last hour and day.

The sums :mod:`activejob_celery.worker.job_stats` writes are read in one pipeline (60 minute hashes,
96 quarter-hour hashes). Percentiles come from the histogram counts, so they name a bucket: a p50
of ``0.25-0.5 s`` means half the runs took at most 0.5 s and the middle run more than 0.25 s.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

from ..worker.job_stats import BOUNDS, COUNTERS, QUARTER, prefix_of
from ..worker.state import redis_for, settings_of

WINDOWS = ("hour", "day")


@dataclasses.dataclass(frozen=True)
class Percentile:
    """The histogram bucket a percentile falls in: ``low < value <= high`` (``high`` None: above).

    Example:
        >>> str(Percentile(0.25, 0.5)), str(Percentile(900.0, None))
        ('≤ 500 ms', '> 900 s')
    """

    low: float
    high: float | None

    def __str__(self) -> str:
        return f"> {_seconds(self.low)}" if self.high is None else f"≤ {_seconds(self.high)}"


@dataclasses.dataclass(frozen=True)
class Window:
    """The counts and duration histogram of one class over one window.

    Example:
        >>> window = Window(performed=3, histogram=(0,) * 6 + (3,) + (0,) * 9)
        >>> window.p50, window.runs
        (Percentile(low=0.25, high=0.5), 3)
    """

    enqueued: int = 0
    performed: int = 0
    retried: int = 0
    discarded: int = 0
    dead: int = 0
    histogram: tuple[int, ...] = (0,) * (len(BOUNDS) + 1)

    @property
    def runs(self) -> int:
        """Worker runs with a recorded duration."""
        return sum(self.histogram)

    @property
    def p50(self) -> Percentile | None:
        """The median run's bucket; None without runs."""
        return percentile(self.histogram, 0.5)

    @property
    def p95(self) -> Percentile | None:
        """The 95th percentile run's bucket; None without runs."""
        return percentile(self.histogram, 0.95)

    def as_dict(self) -> dict[str, Any]:
        """The numbers as JSON-ready values (percentiles as ``{"low": s, "high": s}``)."""
        counts: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        for name, value in (("p50", self.p50), ("p95", self.p95)):
            counts[name] = None if value is None else dataclasses.asdict(value)
        return counts


@dataclasses.dataclass(frozen=True)
class ClassStats:
    """One job class's statistics over the last hour and the last day.

    Example:
        >>> ClassStats("shop.ReceiptJob", Window(performed=1), Window(performed=4)).day.performed
        4
    """

    job_class: str
    hour: Window
    day: Window


def percentile(histogram: tuple[int, ...], quantile: float) -> Percentile | None:
    """The bucket holding the ``quantile`` run (nearest rank) of ``histogram``.

    Example:
        >>> percentile((1, 0, 3) + (0,) * 13, 0.5)
        Percentile(low=0.01, high=0.025)
    """
    total = sum(histogram)
    if not total:
        return None
    rank, seen, index = max(1, math.ceil(quantile * total)), 0, 0
    while seen + histogram[index] < rank:
        seen += histogram[index]
        index += 1
    low = BOUNDS[index - 1] if index else 0.0
    return Percentile(low, BOUNDS[index] if index < len(BOUNDS) else None)


def by_class(app: Any, *, now: float | None = None) -> list[ClassStats] | None:
    """Every class counted in the last day, by name; None without a Redis.

    Example:
        >>> [(row.job_class, row.hour.performed) for row in by_class(app)]  # doctest: +SKIP
        [('shop.jobs.ReceiptJob', 12)]
    """
    client = redis_for(app)
    if client is None:
        return None
    prefix = prefix_of(app) or settings_of(app).key("stats")
    now = time.time() if now is None else now
    minute, quarter = int(now // 60), int(now // QUARTER)
    keys = [f"{prefix}:m:{epoch}" for epoch in range(minute - 59, minute + 1)]
    keys += [f"{prefix}:q:{epoch}" for epoch in range(quarter - 95, quarter + 1)]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        replies = pipe.execute()
    hour, day = _sums(replies[:60]), _sums(replies[60:])
    return [
        ClassStats(name, _window(hour.get(name, {})), _window(day.get(name, {})))
        for name in sorted(set(hour) | set(day))
    ]


def as_json(rows: list[ClassStats]) -> dict[str, dict[str, Any]]:
    """``{job class: {"hour": {...}, "day": {...}}}`` as ``jobs stats --by-class --json`` prints.

    Example:
        >>> as_json([ClassStats("a.Job", Window(), Window(dead=1))])["a.Job"]["day"]["dead"]
        1
    """
    return {row.job_class: {"hour": row.hour.as_dict(), "day": row.day.as_dict()} for row in rows}


def _sums(replies: list[Mapping[Any, Any]]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for reply in replies:
        for raw_field, raw_count in reply.items():
            text = raw_field.decode() if isinstance(raw_field, bytes) else str(raw_field)
            name, _, field = text.rpartition("|")
            counts = totals.setdefault(name, {})
            counts[field] = counts.get(field, 0) + int(raw_count)
    return totals


def _window(counts: Mapping[str, int]) -> Window:
    histogram = tuple(counts.get(f"d{index}", 0) for index in range(len(BOUNDS) + 1))
    return Window(**{name: counts.get(name, 0) for name in COUNTERS}, histogram=histogram)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:g} ms"
    return f"{value:g} s"
