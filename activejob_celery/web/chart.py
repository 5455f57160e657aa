"""The last hour as an inline SVG bar chart: performed and failed jobs stacked per minute."""

from __future__ import annotations

import dataclasses

from ..worker.metrics import Minute

WIDTH = 720
HEIGHT = 150
TOP = 12
"""Room above the tallest bar for the peak label."""


@dataclasses.dataclass(frozen=True)
class Bar:
    """One minute's bar: the performed part at the bottom, the failed part on top."""

    x: float
    width: float
    performed_y: float
    performed_height: float
    failed_y: float
    failed_height: float
    label: str


@dataclasses.dataclass(frozen=True)
class Chart:
    """Geometry of the chart (SVG user units) and the hour's totals.

    Example:
        >>> chart = build_chart(last_hour(app))                 # doctest: +SKIP
        >>> chart.performed, chart.failed, len(chart.bars)      # doctest: +SKIP
        (412, 3, 60)
    """

    width: int
    height: int
    bars: list[Bar]
    peak: int
    performed: int
    failed: int


def build_chart(minutes: list[Minute], width: int = WIDTH, height: int = HEIGHT) -> Chart:
    """Lay out one bar per minute, scaled to the busiest minute.

    Example:
        >>> from datetime import datetime, timezone
        >>> minute = Minute(datetime(2026, 1, 1, tzinfo=timezone.utc), performed=3, failed=1)
        >>> chart = build_chart([minute])
        >>> chart.peak, chart.bars[0].failed_height > 0
        (4, True)
    """
    peak = max((minute.total for minute in minutes), default=0)
    scale = (height - TOP) / peak if peak else 0.0
    slot = width / max(len(minutes), 1)
    bars = []
    for index, minute in enumerate(minutes):
        performed_height = minute.performed * scale
        failed_height = minute.failed * scale
        performed_y = height - performed_height
        bars.append(
            Bar(
                x=round(index * slot + 1, 2),
                width=round(max(slot - 2, 1), 2),
                performed_y=round(performed_y, 2),
                performed_height=round(performed_height, 2),
                failed_y=round(performed_y - failed_height, 2),
                failed_height=round(failed_height, 2),
                label=(
                    f"{minute.start:%H:%M} UTC: {minute.performed} performed, "
                    f"{minute.failed} failed"
                ),
            )
        )
    return Chart(
        width=width,
        height=height,
        bars=bars,
        peak=peak,
        performed=sum(minute.performed for minute in minutes),
        failed=sum(minute.failed for minute in minutes),
    )
