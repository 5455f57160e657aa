"""Queue depths on a broker that is not Redis (RabbitMQ): a passive declare's ``message_count``.

``jobs stats`` and the dashboard read Redis brokers list by list (:mod:`.broker_queues`). On
RabbitMQ a passive ``queue.declare`` answers with the number of messages ready in the queue
(not those a worker holds unacknowledged), without creating or changing the queue. Where the
broker cannot say, the depth is None and is shown as "unknown on this broker".
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

logger = logging.getLogger(__name__)

UNKNOWN = "unknown on this broker"
"""What the CLI and the dashboard show for a number the broker cannot give."""


def queue_depths(app: Any, names: list[str]) -> dict[str, int | None]:
    """Messages ready in each queue of ``names`` (0 for a queue not declared; None unknown).

    Example:
        >>> queue_depths(app, ["default", "mailers"])           # doctest: +SKIP
        {'default': 3, 'mailers': 0}
    """
    depths: dict[str, int | None] = dict.fromkeys(names)
    try:
        with app.connection_for_read(connect_timeout=5) as connection:
            connection.connect()  # once: a page or a command must not wait out retries
            for name in names:
                depths[name] = _depth(connection, name)
    except Exception as error:  # broker down or a transport without passive declare
        logger.info("Could not read queue depths from the broker: %s", error)
    return depths


def _depth(connection: Any, name: str) -> int | None:
    # A refused passive declare closes the channel (AMQP), so each queue gets its own.
    channel = connection.channel()
    try:
        answer = channel.queue_declare(queue=name, passive=True)
    except connection.channel_errors as error:
        if getattr(error, "code", None) == 404 or "NOT_FOUND" in str(error):
            return 0  # never declared: nothing waits in it
        return None
    finally:
        with contextlib.suppress(Exception):
            channel.close()
    count = getattr(answer, "message_count", None)
    return None if count is None else int(count)
