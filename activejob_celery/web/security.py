"""Who may use the dashboard: loopback only without credentials, else basic auth or a token."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any

from ..config import Settings
from ..errors import ConfigurationError

REALM = "activejob-celery"
PROXY_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")
"""A request relayed by a proxy is not local, whatever address the proxy connects from."""
REFUSED = (
    "This dashboard has no credentials configured, so it answers requests from this machine "
    "only, addressed to localhost or a loopback address. Set activejob_web_username and "
    "activejob_web_password, or activejob_web_token."
)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("[::1]")
        (True, False, True)
    """
    if not host:
        return False
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # any other name may resolve anywhere
        return False


@dataclasses.dataclass(frozen=True)
class Credentials:
    """The dashboard's credentials: a user name and password (basic auth), a token, or both.

    With only a token, clients send ``Authorization: Bearer <token>``; a browser may also log
    in with any user name and the token as password.

    Example:
        >>> Credentials(token="s3cret").configured
        True
        >>> Credentials().configured
        False
    """

    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    token: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if bool(self.username) != bool(self.password):
            raise ConfigurationError(
                "activejob_web_username and activejob_web_password go together: set both or neither"
            )

    @classmethod
    def build(cls, settings: Settings, **overrides: str | None) -> Credentials:
        """Credentials from ``activejob_web_*`` settings; non-None ``overrides`` win.

        Example:
            >>> Credentials.build(Settings(), token="s3cret").token
            's3cret'
        """
        values = {
            "username": settings.web_username,
            "password": settings.web_password,
            "token": settings.web_token,
        }
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    @property
    def configured(self) -> bool:
        """Whether any credentials are set (the dashboard then asks every request for them)."""
        return bool(self.token or (self.username and self.password))

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries these credentials.

        Example:
            >>> Credentials(token="s3cret").accepts("Bearer s3cret")
            True
        """
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token:
            return _same(value, self.token)
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if self.username and self.password:
            user_ok = _same(username, self.username)
            if user_ok & _same(password, self.password):
                return True
        return bool(self.token) and _same(password, self.token or "")


def check_exposure(host: str, credentials: Credentials) -> None:
    """Refuse to serve on a non-loopback address without credentials.

    Raises:
        ConfigurationError: ``host`` is not loopback and no credentials are configured.

    Example:
        >>> check_exposure("127.0.0.1", Credentials())          # fine: only this machine
    """
    if is_loopback(host) or credentials.configured:
        return
    raise ConfigurationError(
        f"refusing to serve the jobs dashboard on {host}, which is not a loopback address, "
        "without credentials: set activejob_web_username and activejob_web_password (basic "
        "auth) or activejob_web_token, or serve on 127.0.0.1"
    )


def is_local_request(scope: Mapping[str, Any]) -> bool:
    """Whether an ASGI request came straight from this machine, for a loopback host name.

    The client must be a loopback address, no proxy may have relayed the request, and the
    ``Host`` header must name a loopback host: a page of another site that rebinds its DNS
    name to 127.0.0.1 sends its own name there, so it cannot drive the dashboard.

    Example:
        >>> is_local_request({"client": ("127.0.0.1", 5123), "headers": [(b"host", b"localhost")]})
        True
    """
    client = scope.get("client")
    if not client or not is_loopback(str(client[0])):
        return False
    headers = [(name.lower(), value) for name, value in scope.get("headers") or ()]
    if any(name in PROXY_HEADERS for name, _ in headers):
        return False
    hosts = [value.decode("latin-1") for name, value in headers if name == b"host"]
    return len(hosts) == 1 and is_loopback(_hostname(hosts[0]))


def _hostname(host: str) -> str:
    """``host`` without its port: ``[::1]:5555`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    host = host.strip()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class Signer:
    """HMAC-SHA256 signatures for cookie values, one purpose per signature.

    Example:
        >>> signer = Signer(b"k" * 32)
        >>> signer.unsign("csrf", signer.sign("csrf", "abc"))
        'abc'
        >>> signer.unsign("flash", signer.sign("csrf", "abc")) is None
        True
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ConfigurationError("activejob_web_secret must be at least 16 characters long")
        self._secret = secret

    def sign(self, purpose: str, value: str) -> str:
        """``value`` with its signature appended."""
        return f"{value}.{self._digest(purpose, value)}"

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        """The value of a signed string, or None when the signature does not match."""
        if not signed or "." not in signed:
            return None
        value, _, signature = signed.rpartition(".")
        return value if _same(signature, self._digest(purpose, value)) else None

    def _digest(self, purpose: str, value: str) -> str:
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
