"""The Redis the dashboard keeps its own keys in (paused queues, per-minute counters), per app.

The client is the app's shared one for that Redis (:mod:`activejob_celery.runtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..broker_queues import is_redis_url
from ..config import Settings
from ..dead_letters.binding import settings_for, store_url
from ..errors import ConfigurationError
from ..runtime import find_runtime, runtime_for

if TYPE_CHECKING:
    import redis

_URL = "worker.redis_url"
"""The URL of the dashboard's keys, kept in the app's runtime once found."""


def settings_of(app: Any) -> Settings:
    """The settings ``init_app`` read for ``app`` (read now when it was not set up here).

    Example:
        >>> settings_of(app).key("paused")                     # doctest: +SKIP
        'activejob:paused'
    """
    return settings_for(app)


def redis_url(app: Any) -> str | None:
    """Where the dashboard's keys live: the dead-letter store's Redis; None when it is not Redis.

    That is ``activejob_dead_letters_url``, else the broker, so workers and the dashboard agree
    without a setting of their own.

    Example:
        >>> redis_url(app)                                      # doctest: +SKIP
        'redis://localhost:6379/0'
    """
    try:
        url = store_url(app, settings_of(app))
    except ConfigurationError:
        return None
    return url if is_redis_url(url) else None


def redis_for(app: Any) -> redis.Redis | None:
    """One client per app and process for the dashboard's keys; None without a Redis.

    Short timeouts: a counter that cannot be written must not hold a job up.

    Example:
        >>> redis_for(app).hgetall("activejob:paused")          # doctest: +SKIP
        {}
    """
    runtime = runtime_for(app)
    url = runtime.parts.get(_URL) or redis_url(app)  # read once per runtime, as the client was
    if url is None:
        return None
    runtime.parts[_URL] = url
    return runtime.clients.get(url)


def forget(app: Any) -> None:
    """Close the shared clients of ``app`` (it is being closed); later calls make new ones.

    Example:
        >>> forget(app)                                         # doctest: +SKIP
    """
    runtime = find_runtime(app)
    if runtime is not None:
        runtime.clients.close()
