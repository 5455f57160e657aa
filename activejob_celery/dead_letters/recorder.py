"""Recording jobs that fail for good, from the worker path, exactly once each.

Two entry points: :func:`record_failure`, a failure recorder (``failures.add_failure_recorder``)
for every job whose Celery task fails, and :func:`record_discard`, a receiver of the ``discard``
signal that keeps ``discard_on(..., dead_letter=True)`` discards. A discard whose block or
``after_discard`` raises reaches both; only the signal records it, so it is kept once.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from celery.exceptions import Reject, Retry

from .binding import app_in_scope, is_set_up, running_task, settings_for, store_for
from .record import (
    DeadLetter,
    as_int,
    as_str,
    error_class_name,
    error_message,
    format_traceback,
    jsonable,
    now,
    raw_payload,
)

if TYPE_CHECKING:
    from celery import Celery

    from ..base import ApplicationJob
    from .store import DeadLetterStore

logger = logging.getLogger("activejob_celery.dead_letters")

BACKOFF_MAX = 300.0
"""The longest wait, in seconds, before a failure the store could not take is tried again."""


def backoff_delay(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th consecutive failure to store (0-based): 1, 2, 4 ...

    Example:
        >>> [backoff_delay(n) for n in (0, 1, 2, 10)]
        [1.0, 2.0, 4.0, 300.0]
    """
    return min(2.0 ** min(max(attempt, 0), 16), BACKOFF_MAX)


def record_failure(
    payload: Any, error: BaseException, *, reason: str, job: ApplicationJob | None
) -> None:
    """The failure recorder: store the job, or send its message again later when the store is down.

    Raises:
        Retry: in a worker, when the store cannot be written: the message is published again
            with a growing countdown (1, 2, 4 ... 300 s, by Celery's ``retries`` count) and
            this delivery is acknowledged, so the job runs again later instead of being lost.
        Reject: the same, when that publish fails too: the message is requeued.
    """
    if reason == "discarded":
        return  # kept by record_discard when the declaration asked for it
    app = app_in_scope()
    if app is None:
        return
    task = running_task()
    letter = letter_for_failure(
        payload,
        error,
        reason=reason,
        job=job,
        letter_id=as_str(task.request.id) if task is not None else None,
        raw_max_bytes=settings_for(app).dead_letters_raw_max_bytes,
    )
    problem = store_letter(app, letter)
    if problem is None:
        return
    if task is None:  # not in a worker: there is no message to hand back, so the log keeps it
        logger.critical(
            "Could not store dead letter %s: %s. Record: %s",
            letter.id, problem, json.dumps(letter.to_dict()),
        )  # fmt: skip
        return
    raise run_again_later(task, letter, problem)


def run_again_later(task: Any, letter: DeadLetter, problem: Exception) -> Exception:
    """Publish the running task's message again with a countdown; the error for the task to raise.

    Nothing waits here: the worker holds the new message until its time, and keeps running
    other jobs meanwhile.

    Example:
        >>> raise run_again_later(task, letter, ConnectionError("store down"))  # doctest: +SKIP
    """
    request = task.request
    retries = int(request.retries or 0)
    delay = backoff_delay(retries)
    logger.critical(
        "Could not store dead letter %s (%s, %s %s): %s. The job runs again in %.0f s "
        "(attempt %d); nothing is lost while the store is unreachable.",
        letter.id, letter.reason, letter.job_class, letter.job_id, problem, delay, retries + 1,
    )  # fmt: skip
    again = task.signature_from_request(request, countdown=delay, retries=retries + 1)
    try:
        again.apply_async()
    except Exception as publish_error:  # the broker is down too: hand the message back
        logger.critical(
            "Could not publish %s again (%s); it is requeued.", letter.id, publish_error
        )
        rejected: Exception = Reject(f"dead-letter store unavailable: {problem}", requeue=True)
        return rejected
    retried: Exception = Retry(exc=problem, when=delay, sig=again)
    return retried


def record_killed(app: Celery, payload: Any, error: BaseException, *, task_id: str) -> None:
    """Keep a job whose process was killed under it (a hard time limit) as a ``killed`` letter.

    Called in the worker's main process, where no task is running; when the store is down the
    record is logged in full at CRITICAL.

    Example:
        >>> record_killed(app, payload, TimeLimitExceeded(30), task_id=task_id)  # doctest: +SKIP
    """
    if not is_set_up(app):
        logger.error(
            "Job %s was killed (%s); dead letters are off, so it is not kept", task_id, error
        )
        return
    letter = letter_for_failure(
        payload,
        error,
        reason="killed",
        job=None,
        letter_id=task_id,
        raw_max_bytes=settings_for(app).dead_letters_raw_max_bytes,
    )
    logger.error(
        "Job %s %s was killed (%s: %s)",
        letter.job_class, letter.job_id, error_class_name(error), error,
    )  # fmt: skip
    _store_or_log(app, letter, "killed")


def record_discard(
    sender: Any,
    job: ApplicationJob,
    error: BaseException | None = None,
    dead_letter: bool = False,
    **extra: Any,
) -> None:
    """Receiver of ``signals.discard``: keep the job when ``dead_letter=True`` was declared."""
    if not dead_letter:
        return
    app = app_in_scope()
    if app is None:
        return
    task = running_task()
    payload: Any = None
    letter_id = None
    if task is not None:
        args = task.request.args
        received = args[0] if isinstance(args, list | tuple) and len(args) == 1 else None
        if isinstance(received, dict) and received.get("job_id") == job.job_id:
            payload, letter_id = received, as_str(task.request.id)
    if payload is None:
        payload = _serialize(job)
    letter = letter_for_failure(
        payload,
        error if error is not None else _NoError("discarded without an error"),
        reason="discarded",
        job=job,
        letter_id=letter_id,
        raw_max_bytes=settings_for(app).dead_letters_raw_max_bytes,
    )
    # The job chose to be discarded, so the message is not requeued: the log keeps it.
    _store_or_log(app, letter, "discarded")


def _store_or_log(app: Any, letter: DeadLetter, what: str) -> None:
    # For letters whose message is settled either way: a store that is down leaves the log.
    problem = store_letter(app, letter)
    if problem is not None:
        logger.critical(
            "Could not store %s job %s as dead letter %s: %s. Record: %s",
            what, letter.job_id, letter.id, problem, json.dumps(letter.to_dict()),
        )  # fmt: skip


class _NoError(Exception):
    """Stands for the missing error of ``discard_job()`` called without one."""


def store_letter(app: Celery, letter: DeadLetter) -> Exception | None:
    """Store ``letter`` in ``app``'s store; returns the error when that could not be done."""
    try:
        store = store_for(app)
    except Exception as problem:  # a store that cannot even be built counts as unreachable
        return problem
    return write(store, letter)


def write(store: DeadLetterStore, letter: DeadLetter) -> Exception | None:
    """Store ``letter``; returns the error when the store could not be written."""
    try:
        store.record(letter)
    except Exception as problem:  # any failure of the store is handled by callers
        return problem
    logger.info(
        "Dead letter %s recorded (%s): %s %s",
        letter.id, letter.reason, letter.job_class or "-", letter.job_id or "-",
    )  # fmt: skip
    return None


def letter_for_failure(
    payload: Any,
    error: BaseException,
    *,
    reason: str,
    job: ApplicationJob | None,
    letter_id: str | None,
    raw_max_bytes: int,
) -> DeadLetter:
    """The record for a job (or task call) that failed for good with ``error``.

    A malformed payload is kept raw (JSON text, truncated to ``raw_max_bytes``); any other
    payload is kept whole so the job can be retried.
    """
    fields = payload if isinstance(payload, dict) else {}
    if reason == "malformed_message":
        stored: Any = raw_payload(_json_text(payload), raw_max_bytes)
    else:
        stored = jsonable(payload)
    return DeadLetter(
        # The message id makes a redelivered failure replace its record instead of doubling it.
        id=letter_id or str(uuid.uuid4()),
        job_id=job.job_id if job is not None else as_str(fields.get("job_id")),
        job_class=job.job_name if job is not None else as_str(fields.get("job_class")),
        queue_name=as_str(fields.get("queue_name")),
        payload=stored,
        error_class="" if isinstance(error, _NoError) else error_class_name(error),
        error_message=error_message(error),
        traceback=None if isinstance(error, _NoError) else format_traceback(error),
        reason=reason,
        attempts=job.executions if job is not None else as_int(fields.get("executions")),
        failed_at=now(),
    )


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def _serialize(job: ApplicationJob) -> Any:
    try:
        return job.serialize()
    except Exception as error:  # keep what can be kept
        return {"job_class": job.job_name, "job_id": job.job_id, "unserializable": str(error)}
