"""The Redis broker from outside kombu: its URL and a client, the job queues and their depths.

``jobs stats``, the dashboard and the scheduled set read the broker the same way: kombu keeps a
queue's messages in one list per priority bucket (the queue name for 0, the name plus
``PRIORITY_SEP`` and the bucket for 1-9, under the transport's ``global_keyprefix``) and its
bindings in ``_kombu.binding.*`` sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "socket", "unix")
"""URL schemes of a Redis broker (kombu's and redis-py's spellings)."""
PRIORITY_SEP = "\x06\x16"
"""kombu's separator between a queue name and its priority bucket."""
BUCKETS = tuple(range(10))
"""Priority buckets as ``init_app`` configures them: 0 runs first, 9 last."""


def is_redis_url(url: str | None) -> bool:
    """Whether ``url`` names a Redis server.

    Example:
        >>> is_redis_url("rediss://cache:6380/0"), is_redis_url("amqp://guest@rabbit//")
        (True, False)
    """
    return bool(url) and str(url).split("://", 1)[0].lower() in REDIS_SCHEMES


def broker_url(app: Any) -> str | None:
    """The first broker URL ``app`` publishes to (Celery's failover list cut to its first).

    Example:
        >>> broker_url(app)                                    # doctest: +SKIP
        'redis://localhost:6379/0'
    """
    url = app.conf.broker_write_url or app.conf.broker_url
    if isinstance(url, list | tuple):
        url = url[0] if url else None
    if isinstance(url, str):
        return url.split(";", 1)[0].strip()
    return None


def ssl_options(app: Any, url: str) -> dict[str, Any]:
    """redis-py TLS options for a ``rediss://`` URL: the app's ``broker_use_ssl``, if a dict.

    Celery's documented way to trust a Redis certificate is ``broker_use_ssl`` (CA file, client
    certificate), whose keys redis-py also takes; a client built from the URL alone would not
    trust it. Options in the URL's query string still win (redis-py applies them last).

    Example:
        >>> app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED,
        ...                            "ssl_ca_certs": "/etc/redis/ca.pem"}   # doctest: +SKIP
        >>> ssl_options(app, "rediss://redis.internal:6380/0")              # doctest: +SKIP
        {'ssl_cert_reqs': <VerifyMode.CERT_REQUIRED: 2>, 'ssl_ca_certs': '/etc/redis/ca.pem'}
    """
    options = app.conf.broker_use_ssl if app is not None else None
    if not url.lower().startswith("rediss://") or not isinstance(options, dict):
        return {}
    return dict(options)


def redis_client(app: Any, url: str, **options: Any) -> redis.Redis:
    """A redis-py client for ``url`` with the app's TLS options and bounded timeouts.

    Example:
        >>> redis_client(app, broker_url(app)).ping()          # doctest: +SKIP
        True
    """
    import redis

    scheme, _, rest = url.partition("://")
    if scheme in ("redis+socket", "socket"):
        url = "unix://" + rest
    settings: dict[str, Any] = {"socket_connect_timeout": 5.0, "socket_timeout": 30.0}
    settings.update(ssl_options(app, url))
    settings.update(options)
    return redis.Redis.from_url(url, **settings)


def key_prefix(app: Any) -> str:
    """The broker's key prefix: kombu's ``global_keyprefix`` ("" by default)."""
    return str((app.conf.broker_transport_options or {}).get("global_keyprefix", "") or "")


def list_key(prefix: str, name: str, bucket: int) -> str:
    """The Redis list of queue ``name``'s priority ``bucket``."""
    return f"{prefix}{name}{PRIORITY_SEP}{bucket}" if bucket else prefix + name


def configured_queues(app: Any) -> list[str]:
    """The job queues (see ``app.job_queue_names``) plus the app's declared Celery queues."""
    from .app import job_queue_names

    names = job_queue_names()
    names += [name for name in app.amqp.queues if name not in names]
    return names


def queue_names(app: Any, client: redis.Redis, prefix: str) -> list[str]:
    """Configured queues plus every queue a worker has bound (kombu's ``_kombu.binding.*``)."""
    names = configured_queues(app)
    for key in client.scan_iter(match=prefix + "_kombu.binding.*", count=500):
        exchange = _text(key)[len(prefix) + len("_kombu.binding.") :]
        if exchange.endswith("pidbox") or exchange.startswith("celeryev"):
            continue  # control and event queues, not job queues
        for member in client.smembers(key):
            queue = _text(member).split(PRIORITY_SEP)[-1]
            if queue and queue not in names:
                names.append(queue)
    return names


def bucket_depths(client: redis.Redis, prefix: str, names: list[str]) -> dict[str, tuple[int, ...]]:
    """``LLEN`` of each queue's priority lists, in one pipeline.

    Example:
        >>> bucket_depths(client, "", ["default"])              # doctest: +SKIP
        {'default': (2, 0, 0, 0, 0, 0, 0, 0, 0, 0)}
    """
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for bucket in BUCKETS:
                pipe.llen(list_key(prefix, name, bucket))
        sizes = [int(size) for size in pipe.execute()]
    width = len(BUCKETS)
    return {
        name: tuple(sizes[index * width : (index + 1) * width]) for index, name in enumerate(names)
    }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
