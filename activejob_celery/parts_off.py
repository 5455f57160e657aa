"""Parts that are off for an app, each said with one WARNING when a worker starts.

A part that needs Redis (the scheduled set, dead letters, RedBeat recurring jobs) and has no
Redis to use on the app's broker is off. ``init_app`` records it here with the setting that
turns it on; a worker of that app logs each such part once as it starts, so nothing steps
aside without a word, and producers, the CLI and the dashboard are not flooded.

Example:
    >>> part_off(app, "scheduled set", "set activejob_scheduler_url")  # doctest: +SKIP
    >>> parts_off(app)                                                  # doctest: +SKIP
    {'scheduled set': 'set activejob_scheduler_url'}
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import bootsteps

from .broker_queues import broker_url, is_redis_url
from .runtime import app_part

logger = logging.getLogger(__name__)

SCHEDULED_SET = "scheduled set"
DEAD_LETTERS = "dead letters"
RECURRING = "recurring jobs"

_PART = "parts_off"
"""The parts that are off for the app and why: a part of its runtime (``{part: reason}``)."""
_lock = threading.Lock()


def _off(app: Any) -> dict[str, str]:
    found: dict[str, str] = app_part(app, _PART, dict)
    return found


def part_off(app: Any, part: str, reason: str) -> None:
    """Record that ``part`` is off for ``app`` and why (``reason`` names the setting to fix).

    Example:
        >>> part_off(app, DEAD_LETTERS, "set activejob_dead_letters_url")  # doctest: +SKIP
    """
    with _lock:
        _off(app)[part] = reason
    steps = app.steps["worker"]
    if PartsOffWarning not in steps:
        steps.add(PartsOffWarning)


def part_on(app: Any, part: str) -> None:
    """Forget an earlier :func:`part_off` of ``part`` (``init_app`` ran again, now it works).

    Example:
        >>> part_on(app, SCHEDULED_SET)                         # doctest: +SKIP
    """
    with _lock:
        _off(app).pop(part, None)


def parts_off(app: Any) -> dict[str, str]:
    """Every part that is off for ``app``, with its reason.

    Example:
        >>> sorted(parts_off(app))                              # doctest: +SKIP
        ['dead letters', 'scheduled set']
    """
    with _lock:
        return dict(_off(app))


def warn_parts_off(app: Any) -> list[str]:
    """Log one WARNING per part that is off for ``app``; returns the lines logged.

    Example:
        >>> warn_parts_off(app)                                 # doctest: +SKIP
        ["Scheduled set is off for app 'shop': ..."]
    """
    lines = []
    for part, reason in sorted(parts_off(app).items()):
        verb = "are" if part.endswith("s") else "is"
        line = f"{part[:1].upper()}{part[1:]} {verb} off for app {app.main!r}: {reason}"
        logger.warning(line)
        lines.append(line)
    return lines


def check_redbeat_url(app: Any) -> bool:
    """Note recurring jobs as off when RedBeat would use a broker that is not Redis.

    RedBeat keeps its schedule in ``redbeat_redis_url``, else in the broker; on RabbitMQ
    without that setting beat cannot start. Returns whether RedBeat has a Redis.

    Example:
        >>> app.conf.redbeat_redis_url = "redis://cache:6379/1"  # doctest: +SKIP
        >>> check_redbeat_url(app)                               # doctest: +SKIP
        True
    """
    broker = broker_url(app) or ""
    own = app.conf.first("redbeat_redis_url", "REDBEAT_REDIS_URL")  # as RedBeat reads it
    if own or is_redis_url(broker) or broker.startswith("sentinel"):
        part_on(app, RECURRING)
        return True
    scheme = broker.split("://", 1)[0] or "no broker"
    part_off(
        app,
        RECURRING,
        f"RedBeat keeps the schedule in Redis and the broker is {scheme!r}; "
        "set redbeat_redis_url = 'redis://host:6379/1'",
    )
    return False


class PartsOffWarning(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker step: as the worker starts, one WARNING per part that is off for its app.

    Example:
        >>> app.steps["worker"].add(PartsOffWarning)  # part_off does it  # doctest: +SKIP
    """

    label = "activejob parts off"

    def start(self, worker: Any) -> None:
        """Say which parts are off, and the setting that turns each on."""
        warn_parts_off(worker.app)
