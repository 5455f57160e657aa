"""RedBeat's Redis on a ``sentinel://`` broker: its URL and options, derived from the broker's.

RedBeat falls back to ``broker_url`` when ``redbeat_redis_url`` is not set, and cannot read a
``sentinel://`` URL (beat stops at its first tick). RedBeat reaches a Sentinel-managed master
with a ``redis-sentinel://`` URL and, in ``redbeat_redis_options``, ``sentinels``,
``service_name``, ``db``, ``password`` and ``sentinel_kwargs``; :func:`use_broker_sentinel`
fills those in from the broker settings, so beat keeps its schedule on the broker's master and
follows it through a failover.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..broker_queues import broker_url
from ..redis_clients import safe_url, scheme_of, sentinel_settings

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)

SOCKET_TIMEOUT = 10.0
"""Seconds RedBeat waits for a reply when the broker's transport options name no timeout."""
RETRY_PERIOD = 60
"""Seconds RedBeat retries a lost connection (a failover) before beat gives up."""


def use_broker_sentinel(app: Celery) -> dict[str, Any] | None:
    """Point RedBeat at the broker's Sentinel master unless ``redbeat_redis_url`` names another.

    Sets ``redbeat_redis_url`` (``redis-sentinel://`` plus the first sentinel) and
    ``redbeat_redis_options``: the derived keys under any the app already gives (those win).
    A ``redbeat_redis_url`` in kombu's ``sentinel://`` form (which RedBeat cannot read) is
    translated the same way. Returns the options set, or None when neither URL is
    ``sentinel://``.

    Raises:
        ConfigurationError: no master name: neither ``broker_transport_options['master_name']``
            nor ``redbeat_redis_options['service_name']``.

    Example:
        >>> app.conf.broker_url = "sentinel://10.0.0.5:26379"  # doctest: +SKIP
        >>> use_broker_sentinel(app)["service_name"]           # doctest: +SKIP
        'mymaster'
    """
    own_url = configured(app, "redbeat_redis_url")
    source = own_url if own_url is not None else broker_url(app)
    if not isinstance(source, str) or scheme_of(source) != "sentinel":
        return None
    own = configured(app, "redbeat_redis_options")
    own = own if isinstance(own, dict) else {}
    found = sentinel_settings(app, source, master_name=own.get("service_name"))
    transport = app.conf.broker_transport_options or {}
    derived: dict[str, Any] = {
        "sentinels": [list(address) for address in found.sentinels],
        "service_name": found.master_name,
        "db": found.db,
        "socket_timeout": transport.get("socket_timeout") or SOCKET_TIMEOUT,
        "retry_period": RETRY_PERIOD,
    }
    if found.username:
        derived["username"] = found.username
    if found.password:
        derived["password"] = found.password
    if found.sentinel_kwargs:
        derived["sentinel_kwargs"] = found.sentinel_kwargs
    options = {**derived, **own}
    host, port = found.sentinels[0]
    app.conf.redbeat_redis_url = f"redis-sentinel://{host}:{port}/{found.db}"
    app.conf.redbeat_redis_options = options
    logger.info("RedBeat uses the Sentinel master %r at %s", found.master_name, safe_url(source))
    return options


def configured(app: Celery, name: str) -> Any:
    """The value of setting ``name`` as the app spells it (also ``CELERY_NAME``), else None.

    Example:
        >>> configured(app, "redbeat_redis_url")               # doctest: +SKIP
        'redis://localhost:6379/1'
    """
    wanted = (name, "celery_" + name)
    for key in list(app.conf.keys()):
        if str(key).lower() in wanted:
            value = app.conf.get(key)
            if value is not None:
                return value
    return None
