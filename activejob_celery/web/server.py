"""Run the dashboard with uvicorn, refusing a public address that has no credentials."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from ..worker.state import settings_of
from .security import Credentials, check_exposure

NEEDS_EXTRA = "the jobs dashboard needs the web extra: pip install 'activejob-celery[web]'"


def run(
    celery_app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 5555,
    log_level: str = "info",
    root_path: str = "",
    **options: Any,
) -> None:
    """Check the address against the credentials, build the app, and serve until interrupted.

    ``options`` go to :func:`~activejob_celery.web.application.create_app`; ``root_path`` is
    the prefix a reverse proxy serves the dashboard under.

    Raises:
        ConfigurationError: a non-loopback ``host`` without credentials, or no ``web`` extra.

    Example:
        >>> run(celery_app, host="127.0.0.1", port=5555)        # doctest: +SKIP
    """
    credentials = Credentials.build(
        settings_of(celery_app),
        username=options.get("username"),
        password=options.get("password"),
        token=options.get("token"),
    )
    check_exposure(host, credentials)
    try:
        # import here: optional extra (uvicorn)
        import uvicorn

        # import here: optional extra (starlette, jinja2: web.application needs them)
        from .application import create_app
    except ImportError as error:
        raise ConfigurationError(f"{NEEDS_EXTRA} ({error})") from None
    uvicorn.run(
        create_app(celery_app, **options),
        host=host,
        port=port,
        log_level=log_level,
        root_path=root_path,
    )
