"""``rescue_from``, ``retry_on`` and ``discard_on``: the handler table and its lookup.

The three handler kinds share one list per class, searched newest first (the last matching
declaration wins, as in Rails), then along the error's ``__cause__`` chain. Inherited declarations
come first in the list, so a subclass's declaration beats its parent's.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from . import signals
from .adapters import reporting_adapter
from .async_run import settle
from .backoff import DEFAULT, Strategy, validate_jitter, wait_strategy
from .config import current_settings
from .declaration import Declaration, collect, describe_target
from .discarding import discard, run_after_discard
from .errors import ConfigurationError
from .reporting import report_error

if TYPE_CHECKING:
    from .base import ApplicationJob

T = TypeVar("T", bound="str | Callable[..., Any]")


class _Unlimited:
    def __repr__(self) -> str:
        return "UNLIMITED"


UNLIMITED: Final = _Unlimited()
"""``retry_on(..., attempts=UNLIMITED)`` retries for as long as the error recurs."""


def exception_key(exceptions: tuple[type[BaseException], ...]) -> str:
    """Rails' per-declaration counter key: ``"[TimeoutError]"``, ``"[mod.A, mod.B]"``."""
    return "[" + ", ".join(_exception_name(cls) for cls in exceptions) + "]"


def _exception_name(cls: type[BaseException]) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_exceptions(usage: str, exceptions: tuple[Any, ...]) -> tuple[type[BaseException], ...]:
    if not exceptions:
        raise ConfigurationError(f"{usage}: name at least one exception class")
    for candidate in exceptions:
        if not (isinstance(candidate, type) and issubclass(candidate, BaseException)):
            raise ConfigurationError(f"{usage}: {candidate!r} is not an exception class")
    return exceptions


class Handler(Declaration, ABC):
    """A rescue-table entry: the exceptions it matches and what it does with them."""

    exceptions: tuple[type[BaseException], ...] = ()

    @abstractmethod
    def handle(self, job: ApplicationJob, error: BaseException) -> None:
        """Deal with ``error``; raising replaces it and skips ``after_discard``."""

    def bind(self, job_class: type[ApplicationJob]) -> Handler:
        """The entry as used by ``job_class`` (resolves method names)."""
        return self


class RescueFrom(Handler):
    """``rescue_from(...)``: call a method or callable with the error; the job counts as done."""

    def __init__(self, exceptions: tuple[Any, ...], with_: str | Callable[..., Any] | None) -> None:
        self.usage = f"rescue_from({', '.join(map(describe_target, exceptions))}, ...)"
        self.exceptions = _check_exceptions(self.usage, exceptions)
        self.target = with_

    def check_complete(self) -> None:
        """Rails raises ArgumentError for a ``rescue_from`` without ``with:`` or a block."""
        if self.target is None and self.block is None:
            raise ConfigurationError(f"{self.usage}: give with_= or use it as a method decorator")

    def bind(self, job_class: type[ApplicationJob]) -> Handler:
        """Resolve ``with_="method"`` against ``job_class`` when the class is created."""
        if not isinstance(self.target, str):
            return self
        method = getattr(job_class, self.target, None)
        if not callable(method):
            raise ConfigurationError(
                f"{self.usage}: {job_class.__qualname__} has no method {self.target!r}"
            )
        return RescueFrom(self.exceptions, method)

    def handle(self, job: ApplicationJob, error: BaseException) -> None:
        """Call the handler with the job and, if it takes one, the error."""
        target = self.block if self.target is None else self.target
        if target is None or isinstance(target, str):
            raise ConfigurationError(f"{self.usage}: no handler was given")
        settle(_with_optional_error(target)(job, error))  # an async handler is awaited


class RetryOn(Handler):
    """``retry_on(...)``: re-enqueue with a delay until ``attempts`` runs out."""

    def __init__(
        self,
        exceptions: tuple[Any, ...],
        wait: Any,
        attempts: int | _Unlimited | str,
        queue: str | None,
        priority: int | None,
        jitter: Any,
        report: bool,
    ) -> None:
        self.usage = f"retry_on({', '.join(map(describe_target, exceptions))})"
        self.exceptions = _check_exceptions(self.usage, exceptions)
        self.key = exception_key(self.exceptions)
        self.strategy: Strategy = wait_strategy(wait, declared_in=self.usage)
        if attempts == "unlimited":
            attempts = UNLIMITED
        if not isinstance(attempts, _Unlimited) and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0
        ):
            raise ConfigurationError(
                f"{self.usage}: attempts={attempts!r} must be a non-negative integer or UNLIMITED"
            )
        self.attempts = attempts
        self.queue = queue
        self.priority = priority
        self.jitter = validate_jitter(jitter, declared_in=self.usage)
        self.report = report

    def handle(self, job: ApplicationJob, error: BaseException) -> None:
        """Count, then retry with a delay, or stop: block or re-raise, after_discard either way."""
        counters = job.exception_executions
        executions = counters.get(self.key, 0) + 1
        counters[self.key] = executions
        if isinstance(self.attempts, _Unlimited) or executions < self.attempts:
            if self.report:
                report_error(error, job=job, handled=True, level="warning")
            jitter = current_settings().retry_jitter if self.jitter is DEFAULT else self.jitter
            assert isinstance(jitter, float | int)
            delay = self.strategy.delay(executions, error, float(jitter))
            job.retry_job(wait=delay, queue=self.queue, priority=self.priority, error=error)
            if job.enqueue_error is not None:
                # Rails drops a job whose retry the backend refused; failing the run instead
                # keeps it (Celery records the failure and the dead-letter store keeps it).
                job.failure_reason = "unhandled"
                raise error
            return
        job.failure_reason = "exhausted"
        with signals.instrument(
            signals.retry_stopped, job, reporting_adapter(type(job)), error=error
        ):
            if self.block is not None:
                settle(self.block(job, error))
        run_after_discard(job, error)
        if self.block is None:
            raise error


class DiscardOn(Handler):
    """``discard_on(...)``: drop the job (optionally into the dead-letter store)."""

    def __init__(self, exceptions: tuple[Any, ...], report: bool, dead_letter: bool) -> None:
        self.usage = f"discard_on({', '.join(map(describe_target, exceptions))})"
        self.exceptions = _check_exceptions(self.usage, exceptions)
        self.report = report
        self.dead_letter = dead_letter

    def handle(self, job: ApplicationJob, error: BaseException) -> None:
        """Discard the job: report, block, after_discard, inside the discard signal."""
        discard(job, error, block=self.block, report=self.report, dead_letter=self.dead_letter)


def find_handler(
    handlers: tuple[Handler, ...], error: BaseException
) -> tuple[Handler, BaseException] | None:
    """The newest handler matching ``error`` or, failing that, a cause along ``__cause__``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for handler in reversed(handlers):
            if isinstance(current, handler.exceptions):
                return handler, current
        current = current.__cause__
    return None


def rescue_from(*exceptions: type[BaseException], with_: T | None = None) -> RescueFrom:
    """Handle ``exceptions`` with a method name, a callable ``f(job, error)`` or a decorated method.

    The handler's return value is ignored and the job counts as done; raising in the handler
    replaces the error. ``with_`` is Rails' ``with:`` (a Python keyword).

    Example:
        >>> class ImportJob(ApplicationJob):                    # doctest: +SKIP
        ...     rescue_from(QuotaExceeded, with_="reschedule")
        ...     @rescue_from(PermissionError)
        ...     def denied(self, error):
        ...         log.warning("no access: %s", error)
    """
    return collect(RescueFrom(exceptions, with_))


def retry_on(
    *exceptions: type[BaseException],
    wait: Any = 3,
    attempts: int | _Unlimited | str = 5,
    queue: str | None = None,
    priority: int | None = None,
    jitter: Any = DEFAULT,
    report: bool = False,
) -> RetryOn:
    """Retry the job when one of ``exceptions`` is raised (Rails ``retry_on``).

    Args:
        *exceptions: the exception classes this declaration handles; they share one budget.
        wait: seconds, a timedelta, ``POLYNOMIALLY_LONGER``, ``EXPONENTIALLY_LONGER``, an
            ``Exponential``/``Polynomial``, or a callable ``f(executions)`` or
            ``f(executions, error)`` (never jittered; None retries at once).
        attempts: total executions including the first, or ``UNLIMITED``.
        queue: enqueue retries on this queue instead of the job's.
        priority: enqueue retries with this priority.
        jitter: random extra delay factor; defaults to ``activejob_retry_jitter``; 0/None disable.
        report: hand the error to the error reporters each time a retry is scheduled.

    Decorating a method makes it the block that runs, with the error, when attempts run out;
    without one the error is raised again so the Celery task fails.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     retry_on(TimeoutError, wait=timedelta(seconds=30), attempts=3)
        ...     @retry_on(PaymentGatewayError, wait=POLYNOMIALLY_LONGER, attempts=5)
        ...     def payment_exhausted(self, error): ...
    """
    return collect(RetryOn(exceptions, wait, attempts, queue, priority, jitter, report))


def discard_on(
    *exceptions: type[BaseException], report: bool = False, dead_letter: bool = False
) -> DiscardOn:
    """Discard the job when one of ``exceptions`` is raised (Rails ``discard_on``).

    A decorated method is the block, called with the error before ``after_discard`` runs.
    ``dead_letter=True`` also keeps the job in the dead-letter store.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     discard_on(DeserializationError)
        ...     @discard_on(ValueError, dead_letter=True)
        ...     def bad_input(self, error): ...
    """
    return collect(DiscardOn(exceptions, report, dead_letter))


def _with_optional_error(
    target: Callable[..., Any],
) -> Callable[[ApplicationJob, BaseException], Any]:
    try:
        parameters = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        parameters = []
    if len(parameters) == 1 and parameters[0].kind is not parameters[0].VAR_POSITIONAL:
        return lambda job, error: target(job)
    return lambda job, error: target(job, error)
