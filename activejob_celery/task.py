"""The Celery task behind each job class: its body runs the job's payload."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Task

from .concurrency.gate import begin_run, end_run
from .dead_letters.binding import settings_for
from .errors import JobInterruptedError, MalformedPayloadError, UnknownJobClassError
from .execution import instantiate, perform_now
from .failures import job_failed
from .interruptions import Ledger, finish_quietly, task_ledger

logger = logging.getLogger(__name__)


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
    # Worker-side only, so named as Celery names its own (imported by the worker's strategy).
    Request = "activejob_celery.job_request:JobRequest"

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
    app = getattr(task, "app", None) if task is not None else None
    if app is not None and not _begin_locks(job, app, payload):
        return None  # parked in Redis for a concurrency slot, put off, or discarded by its limit
    ledger = task_ledger(task)
    task_id = str(task.request.id) if ledger is not None else ""
    interruption, limit_reached = (
        _begin(ledger, task, job, task_id) if ledger is not None else (None, False)
    )
    done = succeeded = False
    try:
        if interruption is not None and limit_reached:
            job_failed(payload, interruption, reason="killed", job=job)
            done = True
            raise interruption
        result = perform_now(job, interruption=interruption)
        done = not isinstance(result, BaseException)  # a handled error may have re-enqueued it
        succeeded = done
        return result
    except Exception as error:
        if not done:
            job_failed(payload, error, reason=job.failure_reason or "unhandled", job=job)
            done = True  # kept (a store that is down raises above: the message comes back)
        raise
    finally:
        if app is not None:
            _end_locks(job, app)
        if ledger is not None:
            # The common case, a run that succeeded, is cleared with this process's next start
            # (one round trip a run); the others at once.
            finish_quietly(ledger, job.job_id, task_id, done=done, later=succeeded)


def _begin_locks(job: Any, app: Any, payload: Any) -> bool:
    try:
        return begin_run(job, app, payload)
    except Exception as problem:  # never lose the job: it runs, and the log says why unguarded
        logger.warning(
            "Ran %s %s without its concurrency/unique check: %s", job.job_name, job.job_id, problem
        )
        return True


def _end_locks(job: Any, app: Any) -> None:
    try:
        end_run(job, app)
    except Exception as problem:  # the slot frees itself after its duration, the lock after ttl
        logger.warning(
            "Could not release the locks of %s %s: %s", job.job_name, job.job_id, problem
        )


def _begin(
    ledger: Ledger, task: Any, job: Any, task_id: str
) -> tuple[JobInterruptedError | None, bool]:
    """Mark the run's start and log a redelivery.

    Returns:
        The error the run must start with (if any), and whether the job is out of interruptions.
    """
    delivery = task.request.delivery_info or {}
    try:
        start = ledger.start(job.job_id, task_id, redelivered=bool(delivery.get("redelivered")))
    except Exception as problem:  # the mark is a safeguard: its store being down stops no job
        logger.warning("Could not mark the start of job %s (%s): %s", job.job_id, task_id, problem)
        return None, False
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
