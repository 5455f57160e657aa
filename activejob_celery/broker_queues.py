"""The Redis broker from outside kombu: its URL and a client, the job queues and their depths.

``jobs stats``, the dashboard and the scheduled set read the broker the same way: kombu keeps a
queue's messages in one list per priority bucket (the queue name for 0, the name plus
``PRIORITY_SEP`` and the bucket for 1-9, under the transport's ``global_keyprefix``) and its
bindings in ``_kombu.binding.*`` sets. Clients come from :mod:`activejob_celery.redis_clients`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .redis_clients import (
    REDIS_SCHEMES as REDIS_SCHEMES,
    connect,
    scheme_of,
    ssl_options as ssl_options,
)
from .routing import job_queue_names

if TYPE_CHECKING:
    import redis

PRIORITY_SEP = "\x06\x16"
"""kombu's separator between a queue name and its priority bucket."""
BUCKETS = tuple(range(10))
"""Priority buckets as ``init_app`` configures them: 0 runs first, 9 last."""


def is_redis_url(url: str | None) -> bool:
    """Whether ``url`` names a Redis server.

    Example:
        >>> is_redis_url("sentinel://10.0.0.5:26379"), is_redis_url("amqp://guest@rabbit//")
        (True, False)
    """
    return bool(url) and scheme_of(url) in REDIS_SCHEMES


def broker_url(app: Any, *, read: bool = False) -> str | None:
    """The broker URL ``app`` publishes to (``read``: consumes from), a failover list's first.

    A ``sentinel://`` list is kept whole: kombu reads every entry as one more sentinel of the
    same master, not as another broker.

    Example:
        >>> broker_url(app)                                    # doctest: +SKIP
        'redis://localhost:6379/0'
    """
    own = app.conf.broker_read_url if read else app.conf.broker_write_url
    url = own or app.conf.broker_url
    if isinstance(url, list | tuple):
        url = ";".join(str(part) for part in url)
    if not isinstance(url, str):
        return None
    parts = [part.strip() for part in url.split(";") if part.strip()]
    if not parts:
        return None
    if scheme_of(parts[0]) == "sentinel":
        return ";".join(part for part in parts if scheme_of(part) == "sentinel")
    return parts[0]


def redis_client(app: Any, url: str, **options: Any) -> redis.Redis:
    """A redis-py client for ``url`` (see :func:`activejob_celery.redis_clients.connect`).

    Example:
        >>> redis_client(app, broker_url(app)).ping()          # doctest: +SKIP
        True
    """
    return connect(app, url, **options)


def key_prefix(app: Any) -> str:
    """The broker's key prefix: kombu's ``global_keyprefix`` ("" by default)."""
    return str((app.conf.broker_transport_options or {}).get("global_keyprefix", "") or "")


def list_key(prefix: str, name: str, bucket: int) -> str:
    """The Redis list of queue ``name``'s priority ``bucket``."""
    return f"{prefix}{name}{PRIORITY_SEP}{bucket}" if bucket else prefix + name


def configured_queues(app: Any) -> list[str]:
    """The job queues (see ``app.job_queue_names``) plus the app's declared Celery queues."""
    names = job_queue_names(app)
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
