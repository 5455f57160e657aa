"""Enqueue a dead letter's job again: same ``job_id``, counters reset, a fresh Celery task id."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..adapters import celery_app, named_adapter
from ..core import format_time
from ..errors import ConfigurationError, EnqueueError
from ..queue_priority import celery_priority
from ..timeouts import message_limits
from .record import DeadLetter, now, retry_problem

if TYPE_CHECKING:
    from celery import Celery


@dataclasses.dataclass
class BulkResult:
    """What a bulk retry did: task ids of the jobs enqueued again, and why others were not.

    Example:
        >>> result = store.retry_many(store.ids(reason="exhausted"))   # doctest: +SKIP
        >>> len(result.retried), result.failed
        (12, {})
    """

    retried: dict[str, str] = dataclasses.field(default_factory=dict)
    """Dead-letter id -> the Celery task id it was published under."""
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    """Dead-letter id -> why it stays in the store."""


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
            priority=celery_priority(payload.get("priority"), app, payload["queue_name"]),
            producer=producer,
            **message_limits(payload, app),  # set(timeout=...): its hard limit
        )
    except Exception as error:
        raise EnqueueError(
            f"Error while publishing dead letter {letter.id} "
            f"({payload['job_class']}) to queue {payload['queue_name']!r}: {error}"
        ) from error
    return str(payload["provider_job_id"])


def publish_letters(
    app: Celery, entries: Iterable[tuple[str, DeadLetter | None]], result: BulkResult
) -> list[tuple[DeadLetter, str]]:
    """Publish each retryable letter through one producer; notes failures in ``result``.

    Returns the letters published with their new task ids; the caller removes those.
    """
    published: list[tuple[DeadLetter, str]] = []
    pending = list(entries)
    try:
        with app.producer_or_acquire() as producer:
            for letter_id, letter in pending:
                if letter is None:
                    result.failed[letter_id] = "no such dead letter"
                    continue
                problem = retry_problem(letter)
                if problem is not None:
                    result.failed[letter_id] = problem
                    continue
                try:
                    published.append((letter, publish_again(app, letter, producer=producer)))
                except EnqueueError as error:
                    result.failed[letter_id] = str(error)
    except Exception as error:  # no producer (the broker is gone): the rest of the batch waits
        done = {letter.id for letter, _ in published}
        for letter_id, _ in pending:
            if letter_id not in done:
                result.failed.setdefault(letter_id, f"broker unavailable: {error}")
    return published


def current_app_for_jobs() -> Celery:
    """The Celery app jobs publish through (the one ``init_app`` set up last)."""
    app = celery_app()
    if app is None:
        named_adapter("celery")  # raises: no Celery app is set up for jobs
        raise ConfigurationError("No Celery app is set up: call activejob_celery.init_app(app)")
    return app
