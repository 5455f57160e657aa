"""Due entries that cannot be published for a reason of their own are set aside as dead letters.

Releasing through Celery (the set is not on the broker's database) publishes entry after entry.
A broker outage stops the pass and every entry stays claimed until its lease runs out. An
entry that fails for its own reason (a router that raises for its job class, a queue that
does not exist, a payload Celery cannot encode) must not hold back the ones behind it: it
becomes a dead letter with reason ``enqueue_failed`` (retry it from the store once the cause is
fixed), and the pass goes on. When even the dead letter cannot be written, the entry stays
claimed and is tried again when its lease runs out: never dropped, never a hot loop.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from ..dead_letters.binding import settings_for
from ..dead_letters.recorder import letter_for_failure, store_letter
from .entries import decode_value

logger = logging.getLogger(__name__)

REASON = "enqueue_failed"


def is_outage(error: BaseException, producer: Any) -> bool:
    """Whether ``error`` says the broker is failing (then every entry waits), not the entry.

    Example:
        >>> is_outage(ConnectionError("refused"), producer)   # doctest: +SKIP
        True
    """
    if isinstance(error, OperationalError | OSError | RedisError):
        return True
    connection = getattr(producer, "connection", None)
    known = tuple(getattr(connection, "connection_errors", ())) + tuple(
        getattr(connection, "channel_errors", ())
    )
    return bool(known) and isinstance(error, known)


def set_aside(app: Any, member: str, value: bytes, error: BaseException) -> bool:
    """Keep a due entry that cannot be published as a dead letter; True when it was stored.

    Example:
        >>> set_aside(app, "job-id/task-id", value, ValueError("no route"))   # doctest: +SKIP
        True
    """
    try:
        envelope = decode_value(value)
        letter = letter_for_failure(
            envelope["payload"],
            error,
            reason=REASON,
            job=None,
            letter_id=str(envelope["id"]),
            raw_max_bytes=settings_for(app).dead_letters_raw_max_bytes,
        )
        problem = store_letter(app, letter)
    except Exception as failure:  # the dead letter could not even be built
        problem = failure
    if problem is not None:
        logger.error(
            "Scheduled job %s cannot be published (%s: %s) and cannot be kept as a dead "
            "letter (%s); it stays claimed and is tried again when its lease runs out",
            member, type(error).__name__, error, problem,
        )  # fmt: skip
        return False
    logger.error(
        "Scheduled job %s cannot be published (%s: %s); kept as dead letter %s (reason %s)",
        member, type(error).__name__, error, letter.id, REASON,
    )  # fmt: skip
    return True
