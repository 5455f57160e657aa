"""The Celery task behind each job class: its body runs the job's payload."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Task
from celery.exceptions import Retry
from celery.utils.serialization import get_pickleable_exception

from .canvas import is_call, payload_from_call
from .concurrency.gate import begin_run, end_run, rules
from .dead_letters.binding import settings_for
from .errors import JobInterruptedError, MalformedPayloadError, UnknownJobClassError
from .execution import instantiate, perform_now
from .failures import job_failed
from .interruptions import Ledger, Start, finish_quietly, run_id, task_ledger
from .outcomes import run_in_task
from .results import wants_results
from .run_writes import Opening, close_run, open_run, started
from .running import job_finished, job_started
from .status.tracking import CANCELLED, RunTracker, begin_run as begin_status, outcome_of
from .worker_checks import check_enqueued_timeout

logger = logging.getLogger(__name__)


class JobTask(Task):  # type: ignore[misc]
    """One per job class, named by ``job_name``; at-least-once by default (acks late).

    Example:
        >>> app.tasks[GuestsCleanupJob.job_name].acks_late     # doctest: +SKIP
        True
    """

    acks_late = True
    reject_on_worker_lost = True
    typing = False
    serializer = "json"
    job_class: ClassVar[type | None] = None
    # Worker-side only, so named as Celery names its own (imported by the worker's strategy).
    Request = "activejob_celery.job_request:JobRequest"

    @property
    def ignore_result(self) -> bool:  # read by Celery when a run starts
        """Whether Celery skips storing this task's results: unless the job stores results."""
        return not wants_results(self.job_class)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the job whose payload is the single argument (or a signature's call, see canvas)."""
        request = self.request
        signed = is_call(args)
        if signed:
            try:
                payload = payload_from_call(
                    self.job_class,  # type: ignore[arg-type]
                    args,
                    kwargs,
                    task_id=request.id,
                    queue=_queue_of(request),
                )
            except MalformedPayloadError as bad_call:
                job_failed(
                    {"args": list(args), "kwargs": kwargs},
                    bad_call,
                    reason="malformed_message",
                    job=None,
                )
                raise
        elif len(args) != 1 or kwargs:
            error = MalformedPayloadError(
                f"a job task takes exactly one payload argument, got {len(args)} positional "
                f"and {len(kwargs)} keyword arguments"
            )
            job_failed(
                {"args": list(args), "kwargs": kwargs}, error, reason="malformed_message", job=None
            )
            raise error
        else:
            payload = args[0]
        return run_in_task(self, payload, run_payload, signed=signed)


def run_payload(payload: Any, task: Any = None, seen: list[Any] | None = None) -> Any:
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
    working = in_worker(task)  # once: each read of ``task.request`` is a thread-local lookup
    own_id = str(task.request.id) if working else ""
    if working:
        job._run_task_id = own_id
    if seen is not None:
        seen.append(job)
    app = getattr(task, "app", None) if task is not None else None
    worker = app is not None and working
    if worker and job._timeout is not None:  # set(timeout=...): the start-up checks, now
        check_enqueued_timeout(app, job, task.request)
    ledger = task_ledger(task, in_worker=True) if working else None
    # A retry keeps the task id (see ``retry_as_celery``): a run is the task id and the count.
    task_id = run_id(own_id, job.executions) if ledger is not None else ""
    # Status, listing and (when no limit or lock comes between) the run mark: one write, its
    # reply read here (see run_writes); or each on its own.
    mark = (ledger, task_id) if ledger is not None and rules(job) == (None, None) else None
    opening = open_run(job, task, mark) if worker else None
    if opening is not None:
        run = started(opening, job, task)
    else:
        run = begin_status(job, task) if worker else None
    marked = opening is not None and opening.marked is not None
    if run == CANCELLED:
        if marked and ledger is not None:  # the job is over: its mark goes
            finish_quietly(ledger, job.job_id, task_id, done=True)
        return None  # cancel(job_id) said so: status "cancelled", logged, not a dead letter
    if app is not None and not _begin_locks(job, app, payload):
        # waiting for its slot, or discarded by its limit
        _end_run(opening, run, "discarded" if job.failure_reason == "discarded" else "queued")
        return None  # parked in Redis for a concurrency slot, put off, or discarded by its limit
    if marked and opening is not None:
        start = opening.start
        if start is not None and not (task.request.delivery_info or {}).get("redelivered"):
            start = Start(False, 0)  # a first delivery follows no run of its own (Ledger.start)
        interruption, limit_reached = _judge(start, opening.mark_problem, task, job, task_id)
    else:
        interruption, limit_reached = (
            _begin(ledger, task, job, task_id) if ledger is not None else (None, False)
        )
    done = succeeded = False
    listed = job_started(task, job) if worker and opening is None else None
    outcome = "interrupted"  # unless set below: a BaseException (shutdown, interrupt) ended it
    try:
        if interruption is not None and limit_reached:
            job_failed(payload, interruption, reason="killed", job=job)
            done = True
            raise interruption
        result = perform_now(job, interruption=interruption)
        done = not isinstance(result, BaseException) and job._retried is None
        succeeded = done
        outcome = outcome_of(job, result)
    except Exception as error:
        outcome = "retrying"  # the dead-letter store is down: job_failed sends it again
        if not done:
            job_failed(payload, error, reason=job.failure_reason or "unhandled", job=job)
            done = True  # kept (a store that is down raises above: the message comes back)
        outcome = "dead"
        raise
    finally:
        job_finished(listed)  # every outcome: the job no longer shows as running
        if app is not None:
            _end_locks(job, app)
        if ledger is not None:
            # The common case, a run that succeeded, is cleared with this process's next start
            # (one round trip a run); the others at once.
            finish_quietly(ledger, job.job_id, task_id, done=done, later=succeeded)
        _end_run(opening, run, outcome)
    if job._retried is not None and working:
        raise retry_as_celery(job, result)
    return result


def in_worker(task: Any) -> bool:
    """Whether ``task`` runs in a worker (not called directly, not eager)."""
    request = getattr(task, "request", None)
    return request is not None and not request.called_directly and not request.is_eager


def retry_as_celery(job: Any, result: Any) -> Retry:
    """Celery's ``Retry`` for a run whose job was enqueued again (``retry_on`` or ``retry_job``).

    The new message is already published (under this run's task id, as ``Task.retry`` does);
    raising this ends the run the way ``Task.retry`` ends one: state RETRY, the ``task-retried``
    event, the ``task_retry`` signal, one "retry" log line, the message acknowledged.

    Example:
        >>> raise retry_as_celery(job, error)                   # doctest: +SKIP
    """
    (when,) = job._retried
    error = get_pickleable_exception(result) if isinstance(result, BaseException) else None
    return Retry(exc=error, when=when.isoformat() if when is not None else 0)


def _end_run(opening: Opening | None, run: Any, outcome: str) -> None:
    """Write the run's outcome (and unlist it): not waited for when it was opened as one."""
    if opening is not None:
        close_run(opening, run, outcome)
    elif isinstance(run, RunTracker):
        run.end(outcome)


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
    except Exception as problem:
        return _judge(None, problem, task, job, task_id)
    return _judge(start, None, task, job, task_id)


def _judge(
    start: Start | None, problem: BaseException | None, task: Any, job: Any, task_id: str
) -> tuple[JobInterruptedError | None, bool]:
    """What the run's mark said: the error the run starts with, and whether it is the last."""
    if start is None:  # the mark is a safeguard: its store being down stops no job
        logger.warning("Could not mark the start of job %s (%s): %s", job.job_id, task_id, problem)
        return None, False
    delivery = task.request.delivery_info or {}
    if not start.interrupted:
        if delivery.get("redelivered"):
            logger.warning(
                "Job %s (job_id %s, task %s) was delivered again by the broker; it may run twice",
                job.job_name, job.job_id, task.request.id,
            )  # fmt: skip
        return None, False
    limit = settings_for(task.app).max_interruptions
    logger.warning(
        "Job %s (job_id %s, task %s) was delivered again: its previous run started and never "
        "finished (its worker process died); interruption %d of at most %d",
        job.job_name, job.job_id, task.request.id, start.interruptions, limit,
    )  # fmt: skip
    error = JobInterruptedError(
        f"{job.job_name} {job.job_id}: its previous run was interrupted "
        f"({start.interruptions} of at most {limit}, activejob_max_interruptions)"
    )
    return error, start.interruptions >= limit


def _queue_of(request: Any) -> str | None:
    """The queue a signature's message came from (its routing key), for the job's retries."""
    delivery = getattr(request, "delivery_info", None) or {}
    queue = delivery.get("routing_key")
    return queue if isinstance(queue, str) and queue else None
