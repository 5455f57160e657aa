"""Error reporters: where ``retry_on(..., report=True)`` and integrations send errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .hooks import Hooks

if TYPE_CHECKING:
    from .base import ApplicationJob

logger = logging.getLogger(__name__)

Reporter = Callable[..., None]
_reporters = Hooks("Error reporter", logger)


def add_error_reporter(reporter: Reporter) -> Reporter:
    """Register ``reporter(error, *, job, handled, level, context)``; returns it (a decorator).

    Example:
        >>> @add_error_reporter
        ... def to_console(error, *, job, handled, level, context):
        ...     print(level, type(error).__name__, job.job_id)
    """
    _reporters.add(reporter)
    return reporter


def remove_error_reporter(reporter: Reporter) -> None:
    """Unregister a reporter."""
    _reporters.discard(reporter)


def report_error(
    error: BaseException,
    *,
    job: ApplicationJob,
    handled: bool,
    level: str = "error",
    context: dict[str, Any] | None = None,
) -> None:
    """Hand ``error`` to every reporter; a failing reporter is logged and never breaks the job."""
    _reporters.call_logged(error, job=job, handled=handled, level=level, context=context or {})
