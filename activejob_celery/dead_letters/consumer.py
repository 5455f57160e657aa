"""Worker consumer step: messages Celery would log and drop become dead letters instead.

Celery's consumer rejects a message for a task it does not know (``on_unknown_task``), one
without a task header (``on_unknown_message``), one it cannot decode (``on_decode_error``) or
parse (``on_invalid_task``). This step stores each first, then lets Celery carry on. Job task
strategies are wrapped so a body that decodes to the wrong shape is stored and acknowledged
before Celery fails on it outside the task, and the Redis transport is guarded against queue
entries that are not messages at all (see :mod:`.transport`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import bootsteps, signals

from ..celery_logs import install as install_log_filters, kept_as
from .binding import settings_for
from .messages import letter_for_message, message_problem, unknown_task_error
from .put_back import put_back_all
from .record import DeadLetter
from .recorder import backoff_delay, store_letter
from .transport import guard_transport

logger = logging.getLogger("activejob_celery.dead_letters")


class DeadLetterConsumer(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep added by ``init_app``: broken messages become dead letters.

    Example:
        >>> DeadLetterConsumer in app.steps["consumer"]         # doctest: +SKIP
        True
    """

    label = "activejob dead letters"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        """Wrap Celery's rejection hooks once, and the strategies and channel of this connection."""
        keeper = MessageKeeper(c)
        install_log_filters()  # Celery's consumer lines name the dead letter that kept a message
        if not getattr(c, "_activejob_dead_letter_hooks", False):
            # import here: cycle: worker_checks imports this module
            from ..worker_checks import check_at_start  # the checks import the task module

            check_at_start(c.app)
            # The consumer reads these attributes when its event loop starts, after this step.
            c.on_unknown_task = keeper.wrap_unknown_task(c.on_unknown_task)
            c.on_unknown_message = keeper.wrap_rejection(c.on_unknown_message)
            c.on_invalid_task = keeper.wrap_rejection(c.on_invalid_task)
            c.on_decode_error = keeper.wrap_decode_error(c.on_decode_error)
            c._activejob_dead_letter_hooks = True
        for name, strategy in list(c.strategies.items()):
            task = c.app.tasks.get(name)
            if getattr(task, "job_class", None) is not None and not hasattr(strategy, "_aj_guard"):
                c.strategies[name] = keeper.guard_strategy(strategy)
        if c.task_consumer is not None:
            # kombu calls its consumer's own hook for bodies it cannot decompress.
            c.task_consumer.on_decode_error = c.on_decode_error
        channel = getattr(c.task_consumer, "channel", None)
        if channel is not None:
            guard_transport(channel, keeper)


class MessageKeeper:
    """Stores a rejected message, then settles it: Celery's own handling, or later again.

    While the store is down nothing waits in the consumer: the message stays unacknowledged
    and storing it is tried again on the consumer's timer after 1, 2, 4 ... 300 s.
    """

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.failures = 0  # consecutive failures to store, for the backoff

    @property
    def raw_max_bytes(self) -> int:
        """Bytes of a raw body kept in a record."""
        return settings_for(self.consumer.app).dead_letters_raw_max_bytes

    def keep(self, letter: DeadLetter) -> bool:
        """Store ``letter``; on failure log at CRITICAL and return False (nothing waits)."""
        problem = store_letter(self.consumer.app, letter)
        if problem is None:
            self.failures = 0
            return True
        self.failures += 1
        logger.critical(
            "Could not store message %s (%s) as a dead letter: %s. It is tried again in %.0f s.",
            letter.id, letter.reason, problem, self.delay(),
        )  # fmt: skip
        return False

    def delay(self) -> float:
        """Seconds until the next try after the current run of failures to store."""
        return backoff_delay(self.failures - 1)

    def later(self, action: Callable[[], Any], delay: float | None = None) -> None:
        """Run ``action`` after ``delay`` (default :meth:`delay`) seconds on the consumer's timer.

        Without a timer it runs at once.
        """
        timer = getattr(self.consumer, "timer", None)
        if timer is None:
            action()
            return
        timer.call_after(self.delay() if delay is None else delay, action)

    def settle(self, letter: DeadLetter, message: Any, then: Callable[[], Any]) -> Any:
        """Store ``letter`` and call ``then``; while the store is down, hold ``message`` and retry.

        The held message stays unacknowledged (a crash hands it back to the broker) and does
        not count against the prefetch window, so other messages keep arriving meanwhile.
        """
        if self.keep(letter):
            return then()
        qos = getattr(self.consumer, "qos", None)
        if qos is not None:
            qos.increment_eventually()

        def again() -> None:
            if qos is not None:
                qos.decrement_eventually()
            self.settle(letter, message, then)

        self.later(again)
        return None

    def letter(self, message: Any, error: BaseException, reason: str) -> DeadLetter:
        """The record for ``message``."""
        return letter_for_message(message, error, reason=reason, raw_max_bytes=self.raw_max_bytes)

    def wrap_unknown_task(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``on_unknown_task(body, message, exc)``: a task name this worker does not have."""

        def on_unknown_task(body: Any, message: Any, exc: BaseException) -> Any:
            letter = self.letter(message, unknown_task_error(message), "unknown_job_class")

            def then() -> Any:
                logger.error(
                    "Message for unknown task %s stored as dead letter %s",
                    letter.job_class, letter.id,
                )  # fmt: skip
                with kept_as(letter.id, letter.reason):  # not "ignored and discarded"
                    return original(body, message, exc)

            return self.settle(letter, message, then)

        return on_unknown_task

    def wrap_rejection(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``on_unknown_message(body, message)`` / ``on_invalid_task(body, message, exc)``."""

        def on_rejected(body: Any, message: Any, exc: BaseException | None = None) -> Any:
            error = exc if exc is not None else ValueError("message has no task header")
            letter = self.letter(message, error, "malformed_message")

            def then() -> Any:
                with kept_as(letter.id, letter.reason):  # not "ignored and discarded"
                    return original(body, message) if exc is None else original(body, message, exc)

            return self.settle(letter, message, then)

        return on_rejected

    def wrap_decode_error(self, original: Callable[..., Any]) -> Callable[..., Any]:
        """``on_decode_error(message, exc)``: a body that cannot be decoded."""

        def on_decode_error(message: Any, exc: BaseException) -> Any:
            letter = self.letter(message, exc, "malformed_message")
            return self.settle(letter, message, lambda: original(message, exc))

        return on_decode_error

    def guard_strategy(self, strategy: Callable[..., Any]) -> Callable[..., Any]:
        """Check a job task message's body before Celery's strategy builds a request from it."""

        def guarded(
            message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **kw: Any
        ) -> Any:
            problem = message_problem(message, body)
            if problem is None:
                return strategy(message, body, ack, reject, callbacks, **kw)
            letter = self.letter(message, problem, "malformed_message")

            def then() -> None:
                logger.error(
                    "Malformed job message stored as dead letter %s: %s", letter.id, problem
                )
                message.ack_log_error(logger, self.consumer.connection_errors)

            return self.settle(letter, message, then)

        guarded._aj_guard = True  # type: ignore[attr-defined]
        return guarded


def put_back_at_shutdown(sender: Any = None, **_: Any) -> None:
    """``worker_shutdown``: the worker's timer has stopped; each held entry is tried once more.

    Sent after the consumer's connection closed, so no pop of this worker takes it again.

    Example:
        >>> put_back_at_shutdown(sender=worker)                  # doctest: +SKIP
    """
    consumer = getattr(sender, "consumer", None)
    if consumer is not None and getattr(consumer, "_aj_held_entries", None):
        put_back_all(MessageKeeper(consumer))


signals.worker_shutdown.connect(
    put_back_at_shutdown, weak=False, dispatch_uid="activejob_celery.dead_letters.put_back"
)
