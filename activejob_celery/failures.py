"""Where a job that fails for good is reported from the worker path (dead letters plug in here)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .hooks import Hooks

if TYPE_CHECKING:
    from .base import ApplicationJob

logger = logging.getLogger(__name__)

REASONS = (
    "exhausted",
    "unhandled",
    "discarded",
    "deserialization",
    "unknown_job_class",
    "malformed_message",
    "killed",
    "enqueue_failed",
)
"""Why a job failed for good."""

Recorder = Callable[..., None]
_recorders = Hooks("Failure recorder", logger)


def add_failure_recorder(recorder: Recorder) -> None:
    """Call ``recorder(payload, error, *, reason, job)`` for every job that fails for good.

    Recorders run synchronously in the worker, before the task is marked failed. One that raises
    makes the task raise instead of acknowledging the message as failed.

    Example:
        >>> def log_reason(payload, error, *, reason, job):
        ...     print(reason)
        >>> add_failure_recorder(log_reason)
    """
    _recorders.add(recorder)


def remove_failure_recorder(recorder: Recorder) -> None:
    """Stop calling ``recorder``."""
    _recorders.discard(recorder)


def job_failed(
    payload: Any, error: BaseException, *, reason: str, job: ApplicationJob | None
) -> None:
    """Log the failure with its reason and hand it to every recorder."""
    logger.error(
        "Job failed for good (%s): %s: %s",
        reason,
        type(error).__qualname__,
        error,
    )
    _recorders.call(payload, error, reason=reason, job=job)
