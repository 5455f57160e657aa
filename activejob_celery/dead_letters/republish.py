"""Enqueue a dead letter's job again: same ``job_id``, counters reset, a fresh Celery task id."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..core import format_time
from ..errors import ConfigurationError, EnqueueError
from ..queue_priority import celery_priority
from .record import DeadLetter, now

if TYPE_CHECKING:
    from celery import Celery


def retry_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` ready to run again, as Solid Queue's retry does.

    ``executions`` and ``exception_executions`` start over, so ``retry_on`` gets its whole
    budget back; ``job_id``, arguments, queue and priority are kept.

    Example:
        >>> retry_payload({"job_id": "j1", "executions": 5, "exception_executions": {"[E]": 5}})
        ... # doctest: +ELLIPSIS
        {'job_id': 'j1', 'executions': 0, 'exception_executions': {}, 'provider_job_id': ...}
    """
    fresh = dict(payload)
    fresh["executions"] = 0
    fresh["exception_executions"] = {}
    fresh["provider_job_id"] = str(uuid.uuid4())
    fresh["enqueued_at"] = format_time(now())
    fresh["scheduled_at"] = None
    return fresh


def publish_again(app: Celery, letter: DeadLetter, *, producer: Any = None) -> str:
    """Publish ``letter``'s job as a new message of its task; returns the new Celery task id.

    The job class does not have to be importable here: the message names the task by the
    payload's ``job_class`` (its ``job_name``), exactly as the original message did.

    Raises:
        EnqueueError: the broker did not take the message.
    """
    payload = retry_payload(letter.payload)
    try:
        app.send_task(
            payload["job_class"],
            args=(payload,),
            task_id=payload["provider_job_id"],
            queue=payload["queue_name"],
            priority=celery_priority(payload.get("priority")),
            producer=producer,
        )
    except Exception as error:
        raise EnqueueError(
            f"Error while publishing dead letter {letter.id} "
            f"({payload['job_class']}) to queue {payload['queue_name']!r}: {error}"
        ) from error
    return str(payload["provider_job_id"])


def current_app_for_jobs() -> Celery:
    """The Celery app jobs publish through (the one ``init_app`` set up last)."""
    from ..adapters import named_adapter

    adapter = named_adapter("celery")
    app = getattr(adapter, "app", None)
    if app is None:
        raise ConfigurationError("No Celery app is set up: call activejob_celery.init_app(app)")
    return app
