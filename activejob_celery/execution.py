"""``perform_now`` and ``execute``: the whole run of a job, written out in one place.

Outside in: log tags, the ``perform`` signal, ``executions += 1``, argument decoding, the
``perform_start`` signal, perform callbacks around ``perform``, then on error the rescue table
and, when nothing handles the error, ``after_discard`` and re-raise. This is Rails' order
(``activejob-spec.md`` §0), so decoding errors are rescuable and handled errors log "Performed".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import registry, signals
from .adapters import reporting_adapter
from .callbacks import HALTED
from .core import validate_payload
from .discarding import run_after_discard
from .errors import Abort, DeserializationError
from .log_subscriber import tagged
from .perform_body import run_perform
from .rescue import find_handler

if TYPE_CHECKING:
    from .base import ApplicationJob
    from .core import JobPayload


def perform_now(job: ApplicationJob, *, interruption: Exception | None = None) -> Any:
    """Run ``job`` here; returns perform's value, the handled error, or False if halted.

    ``interruption`` (a ``JobInterruptedError`` from the worker) is raised first, inside the
    rescue scope, so the job's ``retry_on``/``discard_on`` decide what happens.
    """
    with tagged(job):
        adapter = reporting_adapter(type(job))
        with signals.instrument(signals.perform, job, adapter) as event:
            job.executions += 1
            job._after_discard_ran = False
            try:
                if interruption is not None:
                    raise interruption
                job.decode_arguments()
                if signals.perform_start.receivers:
                    signals.perform_start.send(type(job), job=job, adapter=adapter)
                result = run_perform(job, type(job)._perform_callbacks, lambda: _perform(job))
            except Abort:
                result = HALTED  # control flow, even raised from perform itself: never a failure
            except Exception as error:
                return rescue_or_raise(job, error)
            if result is HALTED:
                event.payload["aborted"] = True
                return False
            return result


def _perform(job: ApplicationJob) -> Any:
    return job.perform(*job.arguments, **job.keyword_arguments)


def rescue_or_raise(job: ApplicationJob, error: Exception) -> BaseException:
    """Hand ``error`` to the newest matching handler; otherwise run after_discard and re-raise."""
    found = find_handler(type(job)._rescue_handlers, error)
    if found is not None:
        handler, matched = found
        handler.handle(job, matched)
        return matched
    if job.failure_reason is None:
        job.failure_reason = (
            "deserialization" if isinstance(error, DeserializationError) else "unhandled"
        )
    run_after_discard(job, error)
    raise error


def instantiate(payload: JobPayload) -> ApplicationJob:
    """The job a payload describes, its class found through the registry only.

    Raises:
        MalformedPayloadError: the payload has the wrong shape or types.
        UnknownJobClassError: ``job_class`` names no registered job class.
    """
    validate_payload(payload)
    job_class = registry.lookup(payload["job_class"])
    job = job_class()
    job.load_payload(payload, validated=True)
    return job


def execute(payload: JobPayload) -> Any:
    """Instantiate the job of ``payload`` and run it (Rails ``ActiveJob::Base.execute``)."""
    return perform_now(instantiate(payload))
