"""Ready-made broker messages: what kombu's Redis transport would LPUSH, captured, not pushed."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps as kombu_dumps

from .. import internals

# kombu's own JSON encoder (the one its Redis transport pushes with); typed here.
_dumps: Callable[[Any], str] = kombu_dumps

Push = tuple[bytes, bytes]
"""``(list key, message)``: one LPUSH the transport would have sent."""


def supports_direct(app: Any) -> bool:
    """Whether ``app``'s broker is kombu's Redis transport, or its Sentinel one publishing alike.

    kombu's Sentinel transport only finds the master differently; when its channel pushes
    queue messages with the Redis channel's own methods, a captured message is what it would
    push to the master, so the direct path copies it there. Any other broker: False.

    Example:
        >>> supports_direct(Celery(broker="redis://localhost/0"))   # doctest: +SKIP
        True
    """
    if not internals.usable(internals.DIRECT_PUBLISH):
        return False
    with app.connection_for_write() as connection:
        transport = type(connection.transport)
    if transport is kombu_redis.Transport:
        return True
    return transport is kombu_redis.SentinelTransport and internals.publishes_like_redis_channel(
        transport.Channel
    )


class MessageBuilder:
    """Runs Celery's publish path into a channel whose final ``_put`` records instead of pushing.

    Everything before the push is Celery's and kombu's own code: the task message, routing,
    ``before_task_publish``/``after_task_publish``, queue declaration (written to Redis as
    usual), body encoding, delivery tag and info. The channel's own ``_q_for_pri`` picks the
    priority list, so the captured key and bytes are those a publish would have pushed.

    Example:
        >>> builder = MessageBuilder(app)                             # doctest: +SKIP
        >>> builder.build(lambda producer: app.send_task("t", producer=producer))  # doctest: +SKIP
        [(b'celery', b'{"body": ...}')]
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        # One capturing channel per process, used under a lock: kombu channels are not
        # thread-safe, and building a message does no I/O once the queue is declared.
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._connection: Any = None
        self._producer: Any = None
        self._captured: list[Push] | None = None

    def build(self, publish: Callable[[Any], None]) -> list[Push]:
        """Call ``publish(producer)``; return the pushes it would have made."""
        with self._lock:
            producer = self._ensure_producer()
            captured: list[Push] = []
            self._captured = captured
            try:
                publish(producer)
            except Exception:
                self._reset()
                raise
            finally:
                self._captured = None
            return captured

    def close(self) -> None:
        """Release the capturing connection."""
        with self._lock:
            self._reset()

    def _record(self, channel: Any, queue: str, message: dict[str, Any]) -> None:
        if self._captured is None:
            raise RuntimeError("a capturing channel was used outside MessageBuilder.build")
        # The same two lines as kombu's Channel._put, so key and bytes match it exactly.
        key = internals.pushed_list(channel, queue, message)
        self._captured.append((key.encode(), _dumps(message).encode()))

    def _ensure_producer(self) -> Any:
        if self._producer is not None and self._pid == os.getpid():
            return self._producer
        self._connection = connection = self.app.connection_for_write()
        transport = connection.transport
        transport.Channel = internals.capturing_channel_class(transport, self._record)
        self._producer = self.app.amqp.Producer(connection, auto_declare=False)
        self._pid = os.getpid()
        return self._producer

    def _reset(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None and self._pid == os.getpid():
            # A broken connection is being dropped anyway.
            with contextlib.suppress(Exception):
                connection.close()
