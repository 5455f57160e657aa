"""Rails' continuation events (``interrupt``, ``resume``, ``step_*``) and their log lines.

The signals live in :mod:`activejob_celery.signals`; the lines go to the ``activejob_celery``
logger with the running job's tags, as the other job lines do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import log_subscriber, signals
from ..adapters import reporting_adapter
from ..errors import ContinuationInterrupt

if TYPE_CHECKING:
    from celery.utils.dispatch import Signal

    from ..base import ApplicationJob
    from .step import Step


def emit(signal: Signal, job: ApplicationJob, **payload: Any) -> None:
    """Send ``signal`` for ``job`` now (an event that wraps no work).

    Example:
        >>> emit(signals.resume, job, description="after 'validate'")   # doctest: +SKIP
    """
    if signal.receivers:
        with signals.instrument(signal, job, reporting_adapter(type(job)), **payload):
            pass


def step_skipped(job: ApplicationJob, name: str) -> None:
    """Report that step ``name`` was completed by an earlier execution."""
    emit(signals.step_skipped, job, step=name)


@contextmanager
def instrument_step(job: ApplicationJob, step: Step) -> Iterator[None]:
    """Send ``step_started`` now and ``step`` when the block ends (``interrupted`` if so)."""
    adapter = reporting_adapter(type(job))
    with signals.instrument(signals.step, job, adapter, step=step, interrupted=False) as event:
        emit(signals.step_started, job, step=step)
        try:
            yield
        except ContinuationInterrupt:
            event.payload["interrupted"] = True
            raise


def _job(job: ApplicationJob) -> str:
    return f"{type(job).__qualname__} (Job ID: {job.job_id})"


def on_interrupt(
    sender: type, job: ApplicationJob, reason: str, description: str, **extra: Any
) -> None:
    """``Interrupted ImportJob (Job ID: ..) at 'process', cursor '433' (stopping)``."""
    log_subscriber._log(logging.INFO, "Interrupted %s %s (%s)", _job(job), description, reason)


def on_resume(sender: type, job: ApplicationJob, description: str, **extra: Any) -> None:
    """``Resuming ImportJob (Job ID: ..) after 'validate'``."""
    log_subscriber._log(logging.INFO, "Resuming %s %s", _job(job), description)


def on_step_skipped(sender: type, job: ApplicationJob, step: str, **extra: Any) -> None:
    """``Step 'validate' skipped ImportJob``."""
    log_subscriber._log(logging.INFO, "Step '%s' skipped %s", step, type(job).__qualname__)


def on_step_started(sender: type, job: ApplicationJob, step: Step, **extra: Any) -> None:
    """``Step 'process' started for ..`` or ``Step 'process' resumed from cursor '433' for ..``."""
    if step.resumed:
        log_subscriber._log(
            logging.INFO,
            "Step '%s' resumed from cursor '%s' for %s",
            step.name,
            step.cursor,
            _job(job),
        )
    else:
        log_subscriber._log(logging.INFO, "Step '%s' started for %s", step.name, _job(job))


def on_step(
    sender: type,
    job: ApplicationJob,
    step: Step,
    interrupted: bool,
    duration: float,
    exception: BaseException | None,
    **extra: Any,
) -> None:
    """``Step 'process' completed/interrupted at cursor '433' for .. in 1.23ms``, or the error."""
    name, where = step.name, _job(job)
    if interrupted:
        log_subscriber._log(
            logging.INFO,
            "Step '%s' interrupted at cursor '%s' for %s in %.2fms",
            name,
            step.cursor,
            where,
            duration,
        )
    elif exception is not None:
        log_subscriber._log(
            logging.ERROR,
            "Error during step '%s' at cursor '%s' for %s in %.2fms: %s (%s)",
            name,
            step.cursor,
            where,
            duration,
            type(exception).__qualname__,
            exception,
        )
    else:
        log_subscriber._log(
            logging.INFO, "Step '%s' completed for %s in %.2fms", name, where, duration
        )


log_subscriber.extra_receivers.extend(
    [
        (signals.interrupt, on_interrupt),
        (signals.resume, on_resume),
        (signals.step_skipped, on_step_skipped),
        (signals.step_started, on_step_started),
        (signals.step, on_step),
    ]
)
