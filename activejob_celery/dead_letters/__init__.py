"""The dead-letter store: jobs and messages that failed for good, kept for operators to act on.

Example:
    >>> from activejob_celery.dead_letters import store_for
    >>> store = store_for(app)                                   # doctest: +SKIP
    >>> for letter in store.list(reason="exhausted", since=timedelta(hours=1)):
    ...     print(letter.job_class, letter.error_class, letter.attempts)
    >>> store.retry(letter.id)                                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import failures, signals
from ..parts_off import DEAD_LETTERS, part_off, part_on
from .binding import remember, store_for
from .consumer import DeadLetterConsumer
from .memory import MemoryDeadLetterStore
from .record import DeadLetter, DeadLetterError, DeadLetterNotFoundError, NotRetryableError
from .recorder import record_discard, record_failure
from .redis_store import RedisDeadLetterStore
from .republish import BulkResult
from .store import DeadLetterStore

if TYPE_CHECKING:
    from celery import Celery

    from ..config import Settings

__all__ = [
    "BulkResult",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "DeadLetterStore",
    "MemoryDeadLetterStore",
    "NotRetryableError",
    "RedisDeadLetterStore",
    "setup",
    "store_for",
]

logger = logging.getLogger(__name__)


def setup(app: Celery, settings: Settings) -> None:
    """Connect dead letters to ``app`` (called by ``init_app``; safe to call again).

    Registers the failure recorder and the discard receiver (once per process) and adds the
    consumer step that turns unknown, undecodable and malformed messages into dead letters.

    Example:
        >>> activejob_celery.init_app(app)        # calls setup(app, settings)  # doctest: +SKIP
    """
    problem = remember(app, settings)
    failures.add_failure_recorder(record_failure)
    signals.discard.connect(record_discard, weak=False, dispatch_uid="activejob.dead_letters")
    if problem is not None:
        # Said once, when a worker starts.
        part_off(
            app,
            DEAD_LETTERS,
            f"{problem}. Jobs killed by a time limit are not kept, and runs interrupted by a "
            "lost worker are not detected",
        )
        return
    part_on(app, DEAD_LETTERS)
    if DeadLetterConsumer not in app.steps["consumer"]:
        app.steps["consumer"].add(DeadLetterConsumer)
