"""``create_app``: the dashboard as an ASGI app (Starlette, server-rendered Jinja2 pages)."""

from __future__ import annotations

import secrets
from typing import Any

import jinja2
import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from ..app import init_app, is_initialised
from ..errors import ConfigurationError
from ..worker.state import settings_of
from .middleware import CsrfMiddleware, GuardMiddleware
from .pages import routes
from .pages.common import PROTECTED, Dashboard, brief, call, plural, pretty, relative, when
from .security import Credentials, Signer


def create_app(
    celery_app: Any,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    secret: str | bytes | None = None,
    debug: bool = False,
) -> Starlette:
    """The jobs dashboard of ``celery_app`` as an ASGI app, to serve or mount.

    Credentials default to the ``activejob_web_username`` / ``activejob_web_password`` /
    ``activejob_web_token`` settings. Without any, the app answers requests from this machine
    only (loopback clients, not relayed by a proxy). ``secret`` (else ``activejob_web_secret``,
    else random per process) signs the CSRF and notice cookies; set it when several processes
    serve the dashboard.

    Raises:
        ConfigurationError: a user name without a password (or the reverse), or a short secret.

    Example:
        >>> from starlette.routing import Mount
        >>> routes = [Mount("/jobs", app=create_app(celery_app))]  # doctest: +SKIP
    """
    if not is_initialised(celery_app):
        init_app(celery_app)
    settings = settings_of(celery_app)
    credentials = Credentials.build(settings, username=username, password=password, token=token)
    key = secret if secret is not None else settings.web_secret
    signer = Signer(key.encode() if isinstance(key, str) else key or secrets.token_bytes(32))
    all_routes = routes()
    _check_protected(all_routes)
    app = Starlette(
        debug=debug,
        routes=all_routes,
        middleware=[
            Middleware(GuardMiddleware, credentials=credentials),
            Middleware(CsrfMiddleware, signer=signer),
        ],
        exception_handlers={
            ConnectionError: _unavailable,
            _redis_error(): _unavailable,
            ConfigurationError: _not_configured,
        },
    )
    app.state.dashboard = Dashboard(celery_app=celery_app, templates=_templates(), signer=signer)
    return app


def _templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("activejob_celery.web", "templates"),
        autoescape=True,  # every value, payloads and tracebacks included, is shown as text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(when=when, relative=relative, pretty=pretty, brief=brief, call=call)
    environment.globals.update(plural=plural)
    return Jinja2Templates(env=environment)


def _check_protected(all_routes: list[Route]) -> None:
    # Every state-changing route must go through pages.common.action (the CSRF check).
    for route in all_routes:
        if (route.methods or set()) - {"GET", "HEAD"} and not getattr(
            route.endpoint, PROTECTED, False
        ):
            raise ConfigurationError(f"route {route.path} changes state without a CSRF check")


def _redis_error() -> type[Exception]:
    return redis.RedisError


async def _not_configured(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"This page needs a feature that is off here: {exc}", status_code=503)


async def _unavailable(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(
        f"Redis is unavailable, so this page cannot be shown right now: {exc}", status_code=503
    )
