"""The Celery task behind each job class: its body runs the job's payload."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Task
from celery.exceptions import TimeLimitExceeded
from celery.worker import state as worker_state
from celery.worker.request import Request

from .dead_letters.binding import settings_for
from .dead_letters.recorder import record_killed
from .errors import JobInterruptedError, MalformedPayloadError, UnknownJobClassError
from .execution import instantiate, perform_now
from .failures import job_failed
from .interruptions import Ledger, ledger_for

logger = logging.getLogger(__name__)


class JobRequest(Request):  # type: ignore[misc]
    """Celery's request for a job task: a hard time limit makes a ``killed`` dead letter.

    Celery's documented hook for hard time limits (``Task.Request``); it runs in the worker's
    main process, before Celery acknowledges the message, on every Celery version (``on_failure``
    only sees hard time limits from Celery 5.7 on).

    Example:
        >>> JobTask.Request is JobRequest
        True
    """

    def on_timeout(self, soft: bool, timeout: float) -> None:
        """Keep the job as a dead letter first, then let Celery fail and acknowledge it."""
        if not soft and not worker_state.should_terminate:
            job_killed(self.task, self.id, self.args, TimeLimitExceeded(timeout))
        super().on_timeout(soft, timeout)


class JobTask(Task):  # type: ignore[misc]
    """One per job class, named by ``job_name``; at-least-once by default (acks late).

    Example:
        >>> app.tasks[GuestsCleanupJob.job_name].acks_late     # doctest: +SKIP
        True
    """

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    typing = False
    serializer = "json"
    job_class: ClassVar[type | None] = None
    Request = JobRequest

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Run the job whose payload is the single argument."""
        if len(args) != 1 or kwargs:
            error = MalformedPayloadError(
                f"a job task takes exactly one payload argument, got {len(args)} positional "
                f"and {len(kwargs)} keyword arguments"
            )
            job_failed(
                {"args": list(args), "kwargs": kwargs}, error, reason="malformed_message", job=None
            )
            raise error
        run_payload(args[0], task=self)
        # The job's own return value (or a handled error object) is not a Celery result.
        return None


def job_killed(task: Any, task_id: str, args: Any, error: BaseException) -> None:
    """A hard time limit killed the run of ``task_id``: keep it as a ``killed`` dead letter.

    With ``task_acks_on_timeout`` (or ``task_acks_on_failure_or_timeout``) turned off Celery
    requeues the message instead; its next run then counts as an interruption.

    Example:
        >>> job_killed(task, request.id, request.args, TimeLimitExceeded(30))  # doctest: +SKIP
    """
    if not _acks_on_timeout(task):
        logger.warning(
            "Task %s[%s] passed its hard time limit and is requeued (task_acks_on_timeout is "
            "off); its next run starts with JobInterruptedError",
            task.name, task_id,
        )  # fmt: skip
        return
    payload = args[0] if isinstance(args, list | tuple) and len(args) == 1 else args
    try:
        record_killed(task.app, payload, error, task_id=task_id)
    except Exception as problem:  # never stop Celery's own timeout handling
        logger.critical("Could not keep killed job %s: %s", task_id, problem)
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    ledger = _ledger(task, in_worker=True)
    if ledger is not None and isinstance(job_id, str):
        _quietly(ledger.finish, job_id, task_id, done=True)


def run_payload(payload: Any, task: Any = None) -> Any:
    """Instantiate and perform; every failure is reported with its reason, then re-raised.

    In a worker (``task`` given), the run is marked in the dead-letter store's Redis first:
    a delivery whose previous run never finished starts by raising ``JobInterruptedError``,
    or becomes a ``killed`` dead letter after ``activejob_max_interruptions`` of them.
    """
    try:
        job = instantiate(payload)
    except MalformedPayloadError as error:
        job_failed(payload, error, reason="malformed_message", job=None)
        raise
    except UnknownJobClassError as error:
        job_failed(payload, error, reason="unknown_job_class", job=None)
        raise
    ledger = _ledger(task)
    task_id = str(task.request.id) if ledger is not None else ""
    interruption, limit_reached = (
        _begin(ledger, task, job, task_id) if ledger is not None else (None, False)
    )
    done = False
    try:
        if interruption is not None and limit_reached:
            job_failed(payload, interruption, reason="killed", job=job)
            done = True
            raise interruption
        result = perform_now(job, interruption=interruption)
        done = not isinstance(result, BaseException)  # a handled error may have re-enqueued it
        return result
    except Exception as error:
        if not done:
            job_failed(payload, error, reason=job.failure_reason or "unhandled", job=job)
            done = True  # kept (a store that is down raises above: the message comes back)
        raise
    finally:
        if ledger is not None:
            _quietly(ledger.finish, job.job_id, task_id, done=done)


def _begin(
    ledger: Ledger, task: Any, job: Any, task_id: str
) -> tuple[JobInterruptedError | None, bool]:
    """Mark the run's start and log a redelivery.

    Returns:
        The error the run must start with (if any), and whether the job is out of interruptions.
    """
    try:
        start = ledger.start(job.job_id, task_id)
    except Exception as problem:  # the mark is a safeguard: its store being down stops no job
        logger.warning("Could not mark the start of job %s (%s): %s", job.job_id, task_id, problem)
        return None, False
    delivery = task.request.delivery_info or {}
    if not start.interrupted:
        if delivery.get("redelivered"):
            logger.warning(
                "Job %s (job_id %s, task %s) was delivered again by the broker; it may run twice",
                job.job_name, job.job_id, task_id,
            )  # fmt: skip
        return None, False
    limit = settings_for(task.app).max_interruptions
    logger.warning(
        "Job %s (job_id %s, task %s) was delivered again: its previous run started and never "
        "finished (its worker process died); interruption %d of at most %d",
        job.job_name, job.job_id, task_id, start.interruptions, limit,
    )  # fmt: skip
    error = JobInterruptedError(
        f"{job.job_name} {job.job_id}: its previous run was interrupted "
        f"({start.interruptions} of at most {limit}, activejob_max_interruptions)"
    )
    return error, start.interruptions >= limit


def _acks_on_timeout(task: Any) -> bool:
    # Celery >= 5.6 splits acks_on_failure_or_timeout; None falls back to the older setting.
    for name in ("acks_on_timeout", "acks_on_failure_or_timeout"):
        value = getattr(task, name, None)
        if value is not None:
            return bool(value)
    return True


def _ledger(task: Any, *, in_worker: bool = False) -> Ledger | None:
    """The run marks for ``task``'s app when it runs in a worker (``in_worker``: known to)."""
    if task is None:
        return None
    request = task.request
    if not in_worker and (request is None or request.called_directly or request.is_eager):
        return None
    try:
        return ledger_for(task.app)
    except Exception as error:  # no store: run unmarked (the worker said so at start)
        logger.debug("No run marks for %s: %s", task.name, error)
        return None


def _quietly(finish: Any, job_id: str, task_id: str, *, done: bool) -> None:
    try:
        finish(job_id, task_id, done=done)
    except Exception as error:  # a mark left behind expires; it only over-counts a redelivery
        logger.warning("Could not clear the run mark of job %s (%s): %s", job_id, task_id, error)
