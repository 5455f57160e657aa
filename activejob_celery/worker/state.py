"""The Redis the dashboard keeps its own keys in (paused queues, per-minute counters), per app."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from ..broker_queues import is_redis_url, redis_client
from ..config import Settings
from ..errors import ConfigurationError

if TYPE_CHECKING:
    import redis


_clients: weakref.WeakKeyDictionary[Any, redis.Redis] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def settings_of(app: Any) -> Settings:
    """The settings ``init_app`` read for ``app`` (read now when it was not set up here).

    Example:
        >>> settings_of(app).key("paused")                     # doctest: +SKIP
        'activejob:paused'
    """
    from ..dead_letters.binding import settings_for

    return settings_for(app)


def redis_url(app: Any) -> str | None:
    """Where the dashboard's keys live: the dead-letter store's Redis; None when it is not Redis.

    That is ``activejob_dead_letters_url``, else the broker, so workers and the dashboard agree
    without a setting of their own.

    Example:
        >>> redis_url(app)                                      # doctest: +SKIP
        'redis://localhost:6379/0'
    """
    from ..dead_letters.binding import store_url

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
    with _lock:
        client = _clients.get(app)
        if client is not None:
            return client
        url = redis_url(app)
        if url is None:
            return None
        client = redis_client(
            app, url, socket_connect_timeout=2.0, socket_timeout=5.0, health_check_interval=30
        )
        _clients[app] = client
        return client


def forget(app: Any) -> None:
    """Drop the cached client of ``app`` (its settings changed, or it is being closed).

    Example:
        >>> forget(app)                                         # doctest: +SKIP
    """
    with _lock:
        client = _clients.pop(app, None)
    if client is not None:
        client.close()
