"""The jobs dashboard: queues, scheduled jobs, dead letters and recurring entries in a browser.

Serve it with ``celery -A app jobs web``, or mount :func:`create_app` in an ASGI app. The
dashboard itself needs the ``web`` extra (Starlette, Jinja2, uvicorn); :func:`setup`, which
workers run, needs only Redis.

Example:
    >>> from activejob_celery.web import create_app
    >>> dashboard = create_app(celery_app)                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..parts_off import part_off, part_on
from ..worker import job_stats, metrics
from ..worker.pausing import KeepPaused, PausedQueue, pause, paused_queues, resume
from ..worker.state import redis_url
from .security import Credentials, check_exposure, is_loopback

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "Credentials",
    "PausedQueue",
    "check_exposure",
    "create_app",
    "is_loopback",
    "pause",
    "paused_queues",
    "resume",
    "serve",
    "setup",
]

STATISTICS = "job statistics"
"""The part (:mod:`activejob_celery.parts_off`) a worker warns about when there is no Redis."""
OFF_REASON = (
    "set activejob_dead_letters_url to a Redis URL (the broker is not Redis); the dashboard's "
    "job counts and the per-class statistics of jobs stats --by-class are kept there"
)
"""Why the statistics are off, and the setting that turns them on."""


def setup(app: Any, settings: Settings | None = None) -> None:
    """Wire the worker side of the dashboard to ``app``: job counters and paused queues.

    Connects the per-minute counter receiver to ``signals.perform``, the per-class statistics
    receivers (:mod:`~activejob_celery.worker.job_stats`), and adds the consumer
    step that keeps paused queues paused when a worker starts. Does nothing without a Redis
    (``activejob_dead_letters_url`` or a Redis broker). Safe to call again.

    Example:
        >>> activejob_celery.web.setup(app)                    # doctest: +SKIP
    """
    settings = settings or Settings.from_app(app)
    if redis_url(app) is None:
        part_off(app, STATISTICS, OFF_REASON)  # said once, when a worker starts
        return
    part_on(app, STATISTICS)
    metrics.setup(app, settings)
    job_stats.setup(app, settings)
    if KeepPaused not in app.steps["consumer"]:
        app.steps["consumer"].add(KeepPaused)


def create_app(celery_app: Any, **options: Any) -> Starlette:
    """The dashboard as an ASGI app; see :func:`activejob_celery.web.application.create_app`.

    Example:
        >>> asgi_app = create_app(celery_app, token="s3cret")   # doctest: +SKIP
    """
    from .application import create_app as build

    return build(celery_app, **options)


def serve(celery_app: Any, host: str = "127.0.0.1", port: int = 5555, **options: Any) -> None:
    """Serve the dashboard with uvicorn until interrupted (what ``jobs web`` runs).

    Raises:
        ConfigurationError: ``host`` is not loopback and no credentials are configured.

    Example:
        >>> serve(celery_app, port=5555)                       # doctest: +SKIP
    """
    from .server import run

    run(celery_app, host=host, port=port, **options)
