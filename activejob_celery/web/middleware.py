"""ASGI middleware of the dashboard: access control, the CSRF cookie and security headers."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .security import REALM, REFUSED, Credentials, Signer, is_local_request

CSRF_COOKIE = "aj_csrf"
CSRF_FIELD = "csrf_token"
CSRF_SCOPE_KEY = "activejob.csrf"
"""Scope entry ``(token, came_from_a_valid_cookie)`` set for every HTTP request."""
SECURITY_HEADERS = {
    # No script runs on these pages; forms post only to the dashboard; no framing.
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class GuardMiddleware:
    """Ask for credentials when some are configured; otherwise serve local requests only.

    Example:
        >>> Middleware(GuardMiddleware, credentials=Credentials(token="t"))  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request (401 or 403) or pass it on."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.credentials.configured:
            if not self.credentials.accepts(Headers(scope=scope).get("authorization")):
                response = PlainTextResponse(
                    "Authentication required.",
                    status_code=401,
                    headers={"www-authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
                )
                await response(scope, receive, send)
                return
        elif not is_local_request(scope):
            await PlainTextResponse(REFUSED, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class CsrfMiddleware:
    """Give each browser a signed CSRF cookie and add security headers to every response.

    The token is the cookie's value; state-changing forms carry it in a hidden field and
    :func:`verify_csrf` compares the two.

    Example:
        >>> Middleware(CsrfMiddleware, signer=Signer(secret))      # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, signer: Signer) -> None:
        self.app = app
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read or make the token, then add the cookie (when new) and headers to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = _cookies(Headers(scope=scope)).get(CSRF_COOKIE)
        token = self.signer.unsign("csrf", cookie)
        fresh = token is None
        if token is None:
            token = secrets.token_urlsafe(32)
        scope[CSRF_SCOPE_KEY] = (token, not fresh)
        set_cookie = self._cookie(scope, token) if fresh else None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if set_cookie is not None:
                    headers.append("set-cookie", set_cookie)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cookie(self, scope: Scope, token: str) -> str:
        path = scope.get("root_path") or "/"
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        signed = self.signer.sign("csrf", token)
        return f"{CSRF_COOKIE}={signed}; Path={path}; HttpOnly; SameSite=Strict{secure}"


def csrf_token(request: Request) -> str:
    """The CSRF token to put in this page's forms.

    Example:
        >>> csrf_token(request)                                  # doctest: +SKIP
        'mF0v…'
    """
    token, _ = request.scope[CSRF_SCOPE_KEY]
    return str(token)


def verify_csrf(request: Request, form: Mapping[str, Any]) -> None:
    """Check a posted form's token against the browser's signed cookie.

    Raises:
        HTTPException: 403 when the cookie is missing or forged, or the field does not match.

    Example:
        >>> verify_csrf(request, await request.form())          # doctest: +SKIP
    """
    token, from_cookie = request.scope.get(CSRF_SCOPE_KEY, ("", False))
    submitted = form.get(CSRF_FIELD)
    valid = (
        from_cookie
        and isinstance(submitted, str)
        and hmac.compare_digest(submitted.encode(), str(token).encode())
    )
    if not valid:
        raise HTTPException(
            status_code=403,
            detail="The form's CSRF token is missing or does not match: reload the page and retry.",
        )


def _cookies(headers: Headers) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header means no usable cookie
        return {}
    return {name: morsel.value for name, morsel in jar.items()}
