"""Discarding a job: ``after_discard`` callbacks and the discard step ``discard_on`` runs.

``after_discard`` callbacks run once when a job is given up on: discarded, out of retries, or
failed with an error nothing handles; never for an error a handler dealt with (Rails 7.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import signals
from .adapters import reporting_adapter
from .async_run import settle
from .declaration import Declaration, collect, describe_target
from .errors import ConfigurationError
from .reporting import report_error

if TYPE_CHECKING:
    from .base import ApplicationJob

T = TypeVar("T", bound="str | Callable[..., Any]")


def discard(
    job: ApplicationJob,
    error: BaseException | None,
    *,
    block: Callable[..., Any] | None = None,
    report: bool = False,
    dead_letter: bool = False,
) -> None:
    """Discard ``job``: report, run the block, then ``after_discard``, inside the discard signal."""
    job.failure_reason = "discarded"
    with signals.instrument(
        signals.discard, job, reporting_adapter(type(job)), error=error, dead_letter=dead_letter
    ):
        if report and error is not None:
            report_error(error, job=job, handled=True, level="warning")
        if block is not None:
            settle(block(job, error))
        run_after_discard(job, error)


class AfterDiscard(Declaration):
    """``after_discard(...)``: runs once when the job is about to be discarded."""

    def __init__(self, target: str | Callable[..., Any]) -> None:
        self.usage = f"after_discard({describe_target(target)})"
        if not isinstance(target, str) and not callable(target):
            raise ConfigurationError(f"{self.usage}: give a method name, a callable or decorate")
        self.target = target

    def bind(self, job_class: type[ApplicationJob]) -> Callable[[ApplicationJob, Any], Any]:
        """The callable ``f(job, error)`` that runs for ``job_class``."""
        target = self.target
        if isinstance(target, str):
            method = getattr(job_class, target, None)
            if not callable(method):
                raise ConfigurationError(
                    f"{self.usage}: {job_class.__qualname__} has no method {self.target!r}"
                )
            target = method
        return target


def run_after_discard(job: ApplicationJob, error: BaseException | None) -> None:
    """Run every after_discard callback; if any raised, raise the last of those errors (Rails).

    They run once per run: a ``discard_job()`` inside a ``retry_on`` block already ran them, so
    the exhausted ``retry_on`` does not run them again.
    """
    if job._after_discard_ran:
        return
    job._after_discard_ran = True
    failures: list[Exception] = []
    for callback in type(job)._after_discard:
        try:
            settle(callback(job, error))  # an async callback is awaited
        except Exception as failure:
            failures.append(failure)
    if failures:
        raise failures[-1]


def after_discard(target: T) -> T:
    """Run ``target(job, error)`` when the job is discarded or its retries run out (Rails 7.1).

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     @after_discard
        ...     def record_failure(self, error): ...
    """
    collect(AfterDiscard(target))
    return target
