"""The Celery task behind each job class: its body runs the job's payload."""

from __future__ import annotations

from typing import Any, ClassVar

from celery import Task

from .errors import MalformedPayloadError, UnknownJobClassError
from .execution import instantiate, perform_now
from .failures import job_failed


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
        run_payload(args[0])
        # The job's own return value (or a handled error object) is not a Celery result.
        return None


def run_payload(payload: Any) -> Any:
    """Instantiate and perform; every failure is reported with its reason, then re-raised."""
    try:
        job = instantiate(payload)
    except MalformedPayloadError as error:
        job_failed(payload, error, reason="malformed_message", job=None)
        raise
    except UnknownJobClassError as error:
        job_failed(payload, error, reason="unknown_job_class", job=None)
        raise
    try:
        return perform_now(job)
    except Exception as error:
        job_failed(payload, error, reason=job.failure_reason or "unhandled", job=job)
        raise
