"""The worker's request class for job tasks: a hard time limit makes a ``killed`` dead letter.

Celery kills the child process running a task that passes its hard time limit and, in the
worker's main process, calls the request's ``on_timeout``. ``Task.on_failure`` and the
``task_failure`` signal only see that from Celery 5.7 on; a custom request class (Celery's
documented ``Task.Request`` hook) sees it on every version, before Celery acknowledges the
message. Only workers import this module (``JobTask.Request`` names it by path).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.exceptions import TimeLimitExceeded
from celery.worker import state as worker_state
from celery.worker.request import Request

from .dead_letters.recorder import record_killed
from .interruptions import finish_quietly, task_ledger
from .status.tracking import mark_ended

logger = logging.getLogger("activejob_celery.task")


class JobRequest(Request):  # type: ignore[misc]
    """Celery's request for a job task: a hard time limit makes a ``killed`` dead letter.

    Celery's documented hook for hard time limits (``Task.Request``); it runs in the worker's
    main process, before Celery acknowledges the message, on every Celery version (``on_failure``
    only sees hard time limits from Celery 5.7 on).

    Example:
        >>> from activejob_celery.task import JobTask
        >>> JobTask.Request
        'activejob_celery.job_request:JobRequest'
    """

    def on_timeout(self, soft: bool, timeout: float) -> None:
        """Keep the job as a dead letter first, then let Celery fail and acknowledge it."""
        if not soft and not worker_state.should_terminate:
            job_killed(self.task, self.id, self.args, TimeLimitExceeded(timeout))
        super().on_timeout(soft, timeout)


def job_killed(task: Any, task_id: str, args: Any, error: BaseException) -> None:
    """A hard time limit killed the run of ``task_id``: keep it as a ``killed`` dead letter.

    With ``task_acks_on_timeout`` (or ``task_acks_on_failure_or_timeout``) turned off Celery
    requeues the message instead; its next run then counts as an interruption.

    Example:
        >>> job_killed(task, req.id, req.args, TimeLimitExceeded(30))  # doctest: +SKIP
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
    if isinstance(job_id, str):
        mark_ended(task.app, job_id, "dead")  # a killed dead letter
    ledger = task_ledger(task, in_worker=True)
    if ledger is not None and isinstance(job_id, str):
        finish_quietly(ledger, job_id, task_id, done=True)


def _acks_on_timeout(task: Any) -> bool:
    # Celery >= 5.6 splits acks_on_failure_or_timeout; None falls back to the older setting.
    for name in ("acks_on_timeout", "acks_on_failure_or_timeout"):
        value = getattr(task, name, None)
        if value is not None:
            return bool(value)
    return True
