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

from ..worker import OFF_REASON as OFF_REASON, STATISTICS as STATISTICS, setup
from ..worker.pausing import PausedQueue, pause, paused_queues, resume
from .security import Credentials, check_exposure, is_loopback
from .server import run

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


def create_app(celery_app: Any, **options: Any) -> Starlette:
    """The dashboard as an ASGI app; see :func:`activejob_celery.web.application.create_app`.

    Example:
        >>> asgi_app = create_app(celery_app, token="s3cret")   # doctest: +SKIP
    """
    # import here: optional extra (jinja2, starlette)
    from .application import create_app as build

    return build(celery_app, **options)


def serve(celery_app: Any, host: str = "127.0.0.1", port: int = 5555, **options: Any) -> None:
    """Serve the dashboard with uvicorn until interrupted (what ``jobs web`` runs).

    Raises:
        ConfigurationError: ``host`` is not loopback and no credentials are configured.

    Example:
        >>> serve(celery_app, port=5555)                       # doctest: +SKIP
    """
    run(celery_app, host=host, port=port, **options)
