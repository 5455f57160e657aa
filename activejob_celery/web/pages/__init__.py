"""The dashboard's pages, one module per section; :func:`routes` lists them all.

Example:
    >>> from activejob_celery.web.pages import routes
    >>> "dead_retry" in [route.name for route in routes()]
    True
"""

from __future__ import annotations

from starlette.routing import Route

from . import blocked, dead, queues, recurring, running, scheduled, stats, status


def routes() -> list[Route]:
    """Every route of the dashboard.

    Example:
        >>> len(routes()) > 10
        True
    """
    return [
        *queues.routes(),
        *scheduled.routes(),
        *dead.routes(),
        *recurring.routes(),
        *stats.routes(),
        *blocked.routes(),
        *running.routes(),
        *status.routes(),
    ]


__all__ = ["routes"]
