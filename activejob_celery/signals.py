"""Job lifecycle signals (Rails' ``*.active_job`` events) and the helper that emits them.

Every signal is a Celery :class:`~celery.utils.dispatch.Signal`; the sender is the job class and
every receiver gets ``job`` and ``adapter`` keyword arguments, plus the extras listed per signal.
Signals that wrap work (all but ``perform_start``) are sent when the work finishes, with
``duration`` (milliseconds), ``exception`` (or None) and ``aborted``. A receiver that raises is
logged by Celery and never breaks the job.

Example:
    >>> from activejob_celery import signals
    >>> @signals.perform.connect
    ... def on_perform(sender, job, duration, exception, **extra):
    ...     metrics.timing(f"jobs.{sender.__name__}", duration)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from celery.utils.dispatch import Signal

if TYPE_CHECKING:
    from .base import ApplicationJob

enqueue = Signal(name="activejob.enqueue")
"""A job was handed to its adapter without a time: ``job``, ``adapter``."""
enqueue_at = Signal(name="activejob.enqueue_at")
"""A job was handed to its adapter to run at ``job.scheduled_at``."""
enqueue_all = Signal(name="activejob.enqueue_all")
"""``perform_all_later`` published a group: ``jobs``, ``enqueued_count``, ``adapter``."""
enqueue_retry = Signal(name="activejob.enqueue_retry")
"""``retry_job`` re-enqueued the job: ``error``, ``wait`` (seconds or None)."""
perform_start = Signal(name="activejob.perform_start")
"""The job is about to run its perform callbacks (arguments are decoded)."""
perform = Signal(name="activejob.perform")
"""``perform_now`` finished, including rescue handlers; ``exception`` if an error escaped."""
retry_stopped = Signal(name="activejob.retry_stopped")
"""A ``retry_on`` declaration ran out of attempts: ``error``."""
discard = Signal(name="activejob.discard")
"""``discard_on`` (or ``discard_job``) discarded the job: ``error``, ``dead_letter``."""
dead_letter_recorded = Signal(name="activejob.dead_letter_recorded")
"""A failure was stored; the sender is the store, receivers get ``dead_letter`` (no ``job``)."""
dead_letter_retried = Signal(name="activejob.dead_letter_retried")
"""A dead letter was enqueued again, then removed: ``dead_letter``, ``provider_job_id``."""
dead_letter_discarded = Signal(name="activejob.dead_letter_discarded")
"""An operator discarded a dead letter (``discard``, not ``purge``): ``dead_letter``."""
blocked = Signal(name="activejob.blocked")
"""A job waits in Redis for a concurrency slot: ``job``, ``key``, ``reason``."""
unblocked = Signal(name="activejob.unblocked")
"""A blocked job was given a slot and published: ``job``, ``key``, ``reason``."""
discarded_by_limit = Signal(name="activejob.discarded_by_limit")
"""A job was dropped by its limit (``reason="limit"``) or as a duplicate (``"not_unique"``)."""
interrupt = Signal(name="activejob.interrupt")
"""A continuable job stopped at a checkpoint: ``reason``, ``description``, ``completed_steps``,
``current_step``."""
resume = Signal(name="activejob.resume")
"""A continuable job starts again where it stopped: ``description``, ``completed_steps``,
``current_step``."""
step_skipped = Signal(name="activejob.step_skipped")
"""A step completed by an earlier execution was skipped: ``step`` (its name)."""
step_started = Signal(name="activejob.step_started")
"""A step starts, or resumes from its cursor: ``step`` (the step object)."""
step = Signal(name="activejob.step")
"""A step finished, was interrupted or raised: ``step``, ``interrupted``."""


class Event:
    """The keyword arguments a wrapped signal will be sent with; the wrapped code may add to it."""

    __slots__ = ("payload",)

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload


def instrument(
    signal: Signal, job: ApplicationJob, adapter: object, **payload: Any
) -> Instrumented:
    """Run the block, then send ``signal`` with its duration and outcome.

    Example:
        >>> with instrument(signals.discard, job, job.adapter(), error=error):   # doctest: +SKIP
        ...     run_after_discard(job, error)
    """
    event = Event({"job": job, "adapter": adapter, "aborted": False, **payload})
    return Instrumented(signal, type(job), event)


class Instrumented:
    """What :func:`instrument` returns: a class, cheaper than a generator (it runs every run).

    Example:
        >>> with Instrumented(perform, type(job), Event({"job": job})) as event:  # doctest: +SKIP
        ...     event.payload["aborted"] = True
    """

    __slots__ = ("event", "sender", "signal", "started")

    def __init__(self, signal: Signal, sender: type, event: Event) -> None:
        self.signal, self.sender, self.event, self.started = signal, sender, event, 0.0

    def __enter__(self) -> Event:
        self.started = time.perf_counter()
        return self.event

    def __exit__(self, kind: object, error: BaseException | None, _traceback: object) -> None:
        payload = self.event.payload
        if error is not None:
            payload["exception"] = error
        else:
            payload.setdefault("exception", None)
        payload["duration"] = (time.perf_counter() - self.started) * 1000.0
        if self.signal.receivers:
            self.signal.send(self.sender, **payload)
