"""The one factory for this package's own Redis clients: schemes, TLS, Sentinel, timeouts, retries.

The scheduled set, the dead-letter store, the dashboard and the CLI all get their client from
:func:`connect`, so a ``rediss://`` broker's certificates (``broker_use_ssl``), a
``redis+socket://`` path and a ``sentinel://`` broker's master are handled alike everywhere.
For Sentinel the client is redis-py's ``Sentinel(...).master_for(...)``: each new connection
asks the sentinels where the master is, so the client follows a failover.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import redis
from kombu.utils.url import maybe_sanitize_url, url_to_parts
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from .errors import ConfigurationError

REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "socket", "unix", "sentinel")
"""URL schemes of a Redis server (kombu's and redis-py's spellings, and kombu's Sentinel)."""
SENTINEL_PORT = 26379
"""The port of a ``sentinel://`` URL that names none (kombu's default)."""
DEFAULTS: dict[str, Any] = {"socket_connect_timeout": 5.0, "socket_timeout": 30.0}
"""Timeouts of a client unless the caller gives its own: nothing waits for ever."""
CLIENT_NAME = "activejob-celery"
"""The name (``CLIENT SETNAME``) of the shared clients' connections, as ``CLIENT LIST`` shows."""
SHARED: dict[str, Any] = {
    "socket_connect_timeout": 2.0,
    "socket_timeout": 5.0,
    "health_check_interval": 30,
    "client_name": CLIENT_NAME,
}
"""Options of the shared clients: a counter, a run mark or a dead letter that cannot be written
must not hold a job up for long. With :data:`SHARED_RETRIES` quick retries, a write to a Redis
that is down fails within about a second; the caller decides what happens next."""
SHARED_RETRIES = 2
"""Quick retries of a shared client's command on a connection error (0.02 s, then 0.04 s)."""


def scheme_of(url: str | None) -> str:
    """The lower-case scheme of ``url`` ("" without one).

    Example:
        >>> scheme_of("sentinel://10.0.0.5:26379;sentinel://10.0.0.6:26379")
        'sentinel'
    """
    text = str(url or "")
    return text.split("://", 1)[0].lower() if "://" in text else ""


@dataclasses.dataclass(frozen=True)
class SentinelSettings:
    """Where a Sentinel-managed master is and how to log in to it, read from kombu's settings.

    Example:
        >>> SentinelSettings((("10.0.0.5", 26379),), "mymaster", db=1)
        SentinelSettings(sentinels=(('10.0.0.5', 26379),), master_name='mymaster', db=1, ...)
    """

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    sentinel_kwargs: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    """Options of the connections to the sentinels themselves (kombu's ``sentinel_kwargs``)."""
    min_other_sentinels: int = 0


def sentinel_settings(app: Any, url: str, *, master_name: str | None = None) -> SentinelSettings:
    """Read a ``sentinel://`` URL as kombu's Sentinel transport does.

    Every ``;``-separated ``sentinel://host:port`` is a sentinel; the first one's user,
    password and ``/db`` are the master's. ``master_name`` (unless given), ``sentinel_kwargs``
    and ``min_other_sentinels`` come from the app's ``broker_transport_options``.

    Raises:
        ConfigurationError: no sentinel in ``url``, or no ``master_name`` transport option.

    Example:
        >>> app.conf.broker_transport_options = {"master_name": "mymaster"}  # doctest: +SKIP
        >>> sentinel_settings(app, "sentinel://:pw@10.0.0.5:26379/1").db     # doctest: +SKIP
        1
    """
    parts = [url_to_parts(part.strip()) for part in url.split(";") if part.strip()]
    sentinels = tuple(
        (part.hostname or "127.0.0.1", int(part.port or SENTINEL_PORT))
        for part in parts
        if part.scheme == "sentinel"
    )
    if not sentinels:
        raise ConfigurationError(f"no sentinel:// address in {safe_url(url)!r}")
    options = dict((app.conf.broker_transport_options if app is not None else None) or {})
    master_name = master_name or options.get("master_name")
    if not master_name:
        raise ConfigurationError(
            "a sentinel:// broker needs the master's name: set "
            "broker_transport_options = {'master_name': 'mymaster', ...}"
        )
    first = parts[0]
    extra = options.get("sentinel_kwargs")
    return SentinelSettings(
        sentinels=sentinels,
        master_name=str(master_name),
        db=int(str(first.path or "0").strip("/") or 0),
        username=first.username or None,
        password=first.password or None,
        sentinel_kwargs=dict(extra) if isinstance(extra, dict) else None,
        min_other_sentinels=int(options.get("min_other_sentinels") or 0),
    )


def ssl_options(app: Any, url: str) -> dict[str, Any]:
    """redis-py TLS options: the app's ``broker_use_ssl`` (a dict) for a ``rediss://`` URL.

    Celery's documented way to trust a Redis certificate is ``broker_use_ssl`` (CA file, client
    certificate), whose keys redis-py also takes; a client built from the URL alone would not
    trust it. Options in the URL's query string still win (redis-py applies them last). On a
    ``sentinel://`` broker kombu uses the same dict for the master's connections.

    Example:
        >>> app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED,
        ...                            "ssl_ca_certs": "/etc/redis/ca.pem"}   # doctest: +SKIP
        >>> ssl_options(app, "rediss://redis.internal:6380/0")              # doctest: +SKIP
        {'ssl_cert_reqs': <VerifyMode.CERT_REQUIRED: 2>, 'ssl_ca_certs': '/etc/redis/ca.pem'}
    """
    options = app.conf.broker_use_ssl if app is not None else None
    if scheme_of(url) not in ("rediss", "sentinel") or not isinstance(options, dict):
        return {}
    return dict(options)


def connect(app: Any, url: str, **options: Any) -> redis.Redis:
    """A redis-py client for ``url``: bounded timeouts, a few quick retries on connection errors.

    ``options`` are redis-py client options and win over the defaults (5 s to connect, 30 s
    per reply, 6 retries backing off from 0.1 s to 1 s: about 3.5 s, the span of a quick
    failover). A ``sentinel://`` URL gives a client of the current master that finds the new
    one after a failover.

    Raises:
        ConfigurationError: a ``sentinel://`` URL without ``master_name`` (see
            :func:`sentinel_settings`).

    Example:
        >>> connect(app, "sentinel://10.0.0.5:26379;sentinel://10.0.0.6:26379")  # doctest: +SKIP
        <SentinelMaster(<SentinelConnectionPool(service=mymaster(master)>)>
    """
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), 6)
    settings: dict[str, Any] = {**DEFAULTS, "retry": retry}
    settings.update(ssl_options(app, url))
    settings.update(options)
    scheme = scheme_of(url)
    if scheme == "sentinel":
        if ssl_options(app, url):
            settings["ssl"] = True  # as kombu: TLS to the master when broker_use_ssl is a dict
        return _sentinel_master(sentinel_settings(app, url), settings)
    if scheme in ("redis+socket", "socket"):
        url = "unix://" + url.split("://", 1)[1]
    return redis.Redis.from_url(url, **settings)


class Clients:
    """One client (one connection pool) per Redis URL, shared by every part of one app.

    The scheduled set, the lock store, the dead-letter store, the job counters and the paused
    queues of an app ask here, so a worker holds one pool per Redis server whatever the parts
    turned on. :meth:`close` closes them all (a second ``init_app`` on the app does).

    Example:
        >>> clients = Clients(app)                                  # doctest: +SKIP
        >>> clients.get("redis://localhost:6379/0") is clients.get("redis://localhost:6379/0")
        True
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._clients: dict[str, redis.Redis] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> redis.Redis:
        """The shared client of ``url`` (made on first use with :data:`SHARED`'s options).

        A retry object per client: redis-py keeps one per connection pool.

        Raises:
            ConfigurationError: see :func:`connect`.
        """
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                retry = Retry(ExponentialBackoff(cap=0.25, base=0.02), SHARED_RETRIES)
                client = self._clients[url] = connect(self.app, url, retry=retry, **SHARED)
            return client

    def owns(self, client: object) -> bool:
        """Whether ``client`` is one of these shared clients (its users must not close it)."""
        with self._lock:
            return any(client is mine for mine in self._clients.values())

    def close(self) -> None:
        """Close every client's connections; a later :meth:`get` makes new ones."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


class SentinelMaster(redis.Redis):
    """A client of a Sentinel-managed master; closing it also closes its sentinel connections."""

    sentinel_manager: Sentinel | None = None

    def close(self) -> None:
        """Close the master's connections and those to the sentinels."""
        super().close()
        manager = self.sentinel_manager
        if manager is None:
            return
        if hasattr(manager, "close"):  # redis-py >= 7
            manager.close()
            return
        for sentinel in manager.sentinels:  # older redis-py: one client per sentinel
            sentinel.close()


def _sentinel_master(found: SentinelSettings, settings: dict[str, Any]) -> redis.Redis:
    sentinel_kwargs = dict(found.sentinel_kwargs or {})
    for name in ("socket_connect_timeout", "socket_timeout"):
        sentinel_kwargs.setdefault(name, settings.get(name))
    sentinel = Sentinel(
        list(found.sentinels),
        min_other_sentinels=found.min_other_sentinels,
        sentinel_kwargs=sentinel_kwargs,
    )
    client: SentinelMaster = sentinel.master_for(
        found.master_name,
        redis_class=SentinelMaster,
        db=found.db,
        username=found.username,
        password=found.password,
        **settings,
    )
    client.sentinel_manager = sentinel
    return client


def safe_url(url: str) -> str:
    """``url`` (each ``;``-separated part) with its password masked, for messages.

    Example:
        >>> safe_url("sentinel://:s3cret@10.0.0.5:26379/0")
        'sentinel://:**@10.0.0.5:26379/0'
    """
    return ";".join(str(maybe_sanitize_url(part)) for part in url.split(";"))
