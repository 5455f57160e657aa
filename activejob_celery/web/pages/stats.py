"""Performance: per job class, counts and p50/p95 durations over the last hour and the last day."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...worker.job_stats import BOUNDS, COUNTERS, MINUTE_TTL, QUARTER_TTL
from ..stats_view import by_class
from .common import dashboard_of, render


def routes() -> list[Route]:
    """The statistics route.

    Example:
        >>> [route.name for route in routes()]
        ['stats']
    """
    return [Route("/stats", _stats, name="stats")]


def _stats(request: Request) -> Response:
    rows = by_class(dashboard_of(request).celery_app)
    return render(
        request,
        "stats.html",
        active="stats",
        rows=rows,
        counters=COUNTERS,
        windows=("hour", "day"),
        fields_per_class=len(COUNTERS) + len(BOUNDS) + 1,
        keys_bound=MINUTE_TTL // 60 + QUARTER_TTL // 900,
    )
