"""What every page shares: rendering, links that work under a mount prefix, flash notices, forms."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, unquote, urlencode

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..middleware import CSRF_FIELD, csrf_token, verify_csrf
from ..security import Signer

FLASH_COOKIE = "aj_flash"
PROTECTED = "_activejob_csrf_protected"
"""Attribute marking an endpoint made by :func:`action` (``create_app`` checks every POST)."""

Fields = dict[str, str]
Handler = Callable[[Request, Fields], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclasses.dataclass(frozen=True)
class Dashboard:
    """What the pages need: the Celery app, the templates and the cookie signer.

    Example:
        >>> dashboard_of(request).celery_app.main               # doctest: +SKIP
        'shop'
    """

    celery_app: Any
    templates: Jinja2Templates
    signer: Signer


def dashboard_of(request: Request) -> Dashboard:
    """The :class:`Dashboard` of the ASGI app serving ``request``."""
    board: Dashboard = request.app.state.dashboard
    return board


def href(request: Request, name: str, query: Mapping[str, Any] | None = None, **params: Any) -> str:
    """The path of route ``name`` under the prefix the dashboard is mounted at, with a query.

    Example:
        >>> href(request, "dead", {"reason": "exhausted"})      # doctest: +SKIP
        '/jobs/dead?reason=exhausted'
    """
    quoted = {key: quote(str(value), safe="") for key, value in params.items()}
    path = request.scope.get("root_path", "") + str(request.app.router.url_path_for(name, **quoted))
    kept = {key: value for key, value in (query or {}).items() if value not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Render a page with the shared context (links, CSRF field, flash notice)."""
    board = dashboard_of(request)
    notice = board.signer.unsign("flash", request.cookies.get(FLASH_COOKIE))
    token = escape(csrf_token(request))
    shared = {
        "app_name": board.celery_app.main or "celery",
        "href": lambda name, query=None, **params: href(request, name, query, **params),
        "csrf_input": Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">'),
        "notice": None if notice is None else unquote(notice),
    }
    response = board.templates.TemplateResponse(
        request, template, {**shared, **context}, status_code=status_code
    )
    if request.cookies.get(FLASH_COOKIE) is not None:
        response.delete_cookie(FLASH_COOKIE, path=_cookie_path(request))
    return response


def redirect(
    request: Request,
    name: str,
    notice: str | None = None,
    query: Mapping[str, Any] | None = None,
    **params: Any,
) -> Response:
    """A 303 to route ``name``, carrying ``notice`` to show there once (a signed cookie)."""
    response = RedirectResponse(href(request, name, query, **params), status_code=303)
    if notice:
        response.set_cookie(
            FLASH_COOKIE,
            dashboard_of(request).signer.sign("flash", quote(notice[:500], safe="")),
            path=_cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


def action(handler: Handler) -> Endpoint:
    """Make a POST endpoint: read the form, check its CSRF token (403), run ``handler`` off-loop.

    Example:
        >>> Route("/queues/pause", action(pause_queue), methods=["POST"])  # doctest: +SKIP
    """

    async def endpoint(request: Request) -> Response:
        form = await request.form()
        try:
            verify_csrf(request, form)
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
        finally:
            await form.close()
        return await run_in_threadpool(handler, request, fields)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    setattr(endpoint, PROTECTED, True)
    return endpoint


def confirmed(fields: Fields) -> bool:
    """Whether the operator pressed the button of the confirmation page."""
    return fields.get("confirm") == "yes"


def plural(count: int, word: str) -> str:
    """``1 job``, ``2 jobs``.

    Example:
        >>> plural(2, "dead letter")
        '2 dead letters'
    """
    return f"{count} {word}{'' if count == 1 else 's'}"


def when(moment: datetime | None) -> str:
    """A time as ``2026-05-02 02:00:00 UTC`` (``-`` for none)."""
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(moment: datetime | None) -> str:
    """A time relative to now: ``in 4 min``, ``3 h ago``."""
    if moment is None:
        return ""
    seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    size = abs(seconds)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if size >= length:
            amount = f"{int(size // length)} {unit}"
            break
    else:
        amount = f"{int(size)} s"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def pretty(value: Any) -> str:
    """JSON for a ``<pre>`` block (escaped by the template, like every value)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def brief(value: Any, limit: int = 100) -> str:
    """Compact JSON cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call(arguments: Any, limit: int = 160) -> str:
    """A job's serialized arguments as a call: ``42, notify=true`` (keywords untagged).

    Example:
        >>> call([42, {"notify": True, "_aj_kwargs": ["notify"]}])
        '42, notify=true'
    """
    positional = list(arguments) if isinstance(arguments, list) else [arguments]
    keywords: dict[str, Any] = {}
    if positional and isinstance(positional[-1], dict) and "_aj_kwargs" in positional[-1]:
        keywords = {k: v for k, v in positional.pop().items() if k != "_aj_kwargs"}
    parts = [brief(value, limit) for value in positional]
    parts += [f"{name}={brief(value, limit)}" for name, value in keywords.items()]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path") or "/")
