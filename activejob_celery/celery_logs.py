"""Celery's own log lines about jobs, made truthful and free of repeats.

Two logging filters, installed on Celery's loggers by ``init_app`` (through
:func:`activejob_celery.log_subscriber.attach`) and by the worker's dead-letter step:

* ``celery.app.trace``: a failed job's traceback is already in Rails' ``Error performing``
  line, so Celery's ``Task ... raised unexpected: ...`` line keeps its text and drops the second
  copy of the traceback (the dead letter keeps the full one too).
* ``celery.worker.consumer.consumer``: for a message the dead-letter store kept (an unknown
  task, an invalid or unknown message), Celery's "The message has been ignored and discarded"
  becomes what happened: the dead letter's id and reason.

Only records about an error this package logged, or a message it kept, are changed.

Example:
    >>> from activejob_celery import celery_logs
    >>> celery_logs.install()
    >>> with celery_logs.kept_as("4cde2602", "unknown_job_class"):
    ...     pass
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

__all__ = [
    "TRACEBACK_NOTE",
    "TRACE_LOGGER",
    "CONSUMER_LOGGER",
    "KeptMessageFilter",
    "TracebackOnceFilter",
    "install",
    "kept_as",
    "mark_traceback_logged",
]

TRACE_LOGGER = "celery.app.trace"
CONSUMER_LOGGER = "celery.worker.consumer.consumer"
_LOGGED = "_activejob_traceback_logged"
TRACEBACK_NOTE = "(traceback in the job's 'Error performing' line above)"
"""Ends Celery's failure line when its traceback was left out."""

# Celery's sentences (celery/worker/consumer/consumer.py) that are false for a kept message.
_DISCARDED = (
    "The message has been ignored and discarded.",
    "Received and deleted unknown message.",
)

_kept: ContextVar[tuple[str, str] | None] = ContextVar("activejob_kept_message", default=None)


def mark_traceback_logged(error: BaseException) -> None:
    """Note that ``error``'s traceback is in a log line already (Rails' ``Error performing``).

    Example:
        >>> mark_traceback_logged(ValueError("order 42 is broken"))
    """
    # An exception type whose instances take no attribute: Celery logs the traceback again.
    with suppress(AttributeError):
        setattr(error, _LOGGED, True)


class TracebackOnceFilter(logging.Filter):
    """Drops the traceback from Celery's failure line when the job's own line carried it.

    Example:
        >>> logging.getLogger("celery.app.trace").addFilter(TracebackOnceFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record; strip a repeated traceback."""
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and getattr(error, _LOGGED, False):
            record.exc_info = None
            record.exc_text = None
            if isinstance(record.msg, str):
                record.msg += " " + TRACEBACK_NOTE
        return True


@contextmanager
def kept_as(letter_id: str, reason: str) -> Iterator[None]:
    """While inside, Celery's consumer lines say the message was kept as this dead letter.

    Example:
        >>> with kept_as("4cde2602", "unknown_job_class"):
        ...     pass
    """
    token = _kept.set((letter_id, reason))
    try:
        yield
    finally:
        _kept.reset(token)


class KeptMessageFilter(logging.Filter):
    """Replaces Celery's "ignored and discarded" with the dead letter that kept the message.

    Example:
        >>> logging.getLogger(CONSUMER_LOGGER).addFilter(KeptMessageFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record; correct the one about a message kept as a dead letter."""
        kept = _kept.get()
        if kept is None or not isinstance(record.msg, str):
            return True
        for sentence in _DISCARDED:
            if sentence in record.msg:
                letter_id, reason = kept
                truth = (
                    f"The message was kept as dead letter {letter_id} (reason {reason}); see "
                    f"`celery -A <app> jobs dead list`."
                ).replace("%", "%%")
                record.msg = record.msg.replace(sentence, truth)
                # Celery's traceback here is its own lookup's KeyError: the line says it all.
                record.exc_info = None
                record.exc_text = None
        return True


_FILTERS: tuple[tuple[str, type[logging.Filter]], ...] = (
    (TRACE_LOGGER, TracebackOnceFilter),
    (CONSUMER_LOGGER, KeptMessageFilter),
)


def install() -> None:
    """Add both filters to Celery's loggers (idempotent).

    Example:
        >>> install()
    """
    for name, kind in _FILTERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, kind) for existing in target.filters):
            target.addFilter(kind())
