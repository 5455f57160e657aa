"""``Continuable``: steps, cursors and checkpoints (Rails 8.1 ``ActiveJob::Continuable``).

The mixin's around-perform callback (declared where the mixin enters the class hierarchy, as
Rails' ``around_perform :continue`` is) counts resumptions, and turns an interrupt, or an error
after progress, into a ``retry_job(**resume_options)`` carrying the continuation.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Generator
from typing import Any, ClassVar, TypeVar, cast

from .. import signals
from ..base import ApplicationJob
from ..callbacks import around_perform
from ..core import JobPayload
from ..errors import (
    Abort,
    CheckpointError,
    ConfigurationError,
    ContinuationError,
    ContinuationInterrupt,
    EnqueueError,
    MalformedPayloadError,
    ResumeLimitError,
)
from .events import emit
from .state import Continuation, check_progress
from .step import Step
from .stopping import cancel_requested, stop_reason
from .transactions import open_transaction

logger = logging.getLogger("activejob_celery.continuation")

F = TypeVar("F", bound=Callable[..., Any])
_RESUME_KEYS = frozenset({"wait", "wait_until", "queue", "priority"})


class Continuable(ApplicationJob, abstract=True):
    """Mix into a job to run ``perform`` as steps that survive a worker restart.

    Completed steps are skipped when the job runs again; a step in progress resumes from its
    cursor. Code outside steps runs on every execution. When the worker is shutting down, the
    next checkpoint (before a step, or ``step.set``/``advance``/``checkpoint``) re-enqueues
    the job with its progress and ends the run.

    Example:
        >>> class ImportJob(Continuable, ApplicationJob):      # doctest: +SKIP
        ...     def perform(self, import_id):
        ...         self.imp = Import.get(import_id)
        ...         self.step("validate", self.imp.validate)
        ...         @self.step("process", start=0)
        ...         def _(step):
        ...             for record in self.imp.records(after=step.cursor):
        ...                 record.process()
        ...                 step.advance(from_=record.id)
        ...         self.step("finalize", self.finalize)
    """

    max_resumptions: ClassVar[int | None] = None
    """How many times the job may resume; None is unlimited. Past it: ``ResumeLimitError``."""
    resume_options: ClassVar[dict[str, Any]] = {"wait": 5}
    """``retry_job`` options for a resume: ``wait``, ``wait_until``, ``queue``, ``priority``."""
    resume_errors_after_advancing: ClassVar[bool] = True
    """Resume (instead of failing) on an error raised after this execution made progress."""
    _continuation_interrupted: bool = False
    """This run stopped at a checkpoint (its status ends ``interrupted``, or ``cancelled``)."""
    _cancel_requested: bool = False
    """``cancel(job_id)`` stopped this run at a checkpoint: it is not enqueued again."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.resume_options) - _RESUME_KEYS
        if unknown:
            raise ConfigurationError(
                f"{cls.__qualname__}.resume_options: unknown option(s) {sorted(unknown)}; "
                f"use {sorted(_RESUME_KEYS)}"
            )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resumptions = 0
        """How many times this job has been resumed."""
        self._progress: dict[str, Any] = {}
        self._continuation: Continuation | None = None

    @property
    def continuation(self) -> Continuation:
        """The job's progress (built from the payload on first use: the cursor is decoded then)."""
        if self._continuation is None:
            self._continuation = Continuation(self, self._progress)
        return self._continuation

    def step(
        self,
        name: str,
        fn: Callable[..., Any] | None = None,
        *,
        start: Any = None,
        isolated: bool = False,
    ) -> Any:
        """Run step ``name`` now (or skip it if done); without ``fn``, decorate the step's body.

        ``fn`` takes no argument or the :class:`Step`. ``start`` is the first cursor of a step
        not restored from the payload; ``isolated=True`` runs the step in an execution of its
        own.

        Example:
            >>> self.step("validate", self.validate)          # doctest: +SKIP
            >>> @self.step("process", start=0)                # doctest: +SKIP
            ... def _(step): ...
        """
        if fn is None:

            def decorate(body: F) -> F:
                self.step(name, body, start=start, isolated=isolated)
                return body

            return decorate
        body = _step_body(name, fn)
        if self.continuation.advanced:
            self.checkpoint()
        self.continuation.step(name, start, isolated, body)
        return None

    def checkpoint(self) -> None:
        """Stop here (raise ``ContinuationInterrupt``) if the adapter says it is stopping.

        Raises:
            CheckpointError: a database transaction is open.

        Example:
            >>> self.checkpoint()                               # doctest: +SKIP
        """
        if open_transaction():
            raise CheckpointError("Cannot checkpoint job with open transactions")
        current = self.continuation.current
        if self._status_run is not None and current is not None:  # the Running page shows them
            self._status_run.note({"step": current.name, "cursor": repr(current.cursor)})
        reason = stop_reason(self)
        if reason is None and cancel_requested(self):
            self._cancel_requested = True
            reason = "cancelled"
        if reason is not None:
            self.interrupt(reason)

    def interrupt(self, reason: str) -> None:
        """Emit ``interrupt`` and raise ``ContinuationInterrupt`` (Rails ``interrupt!``)."""
        continuation = self.continuation
        emit(signals.interrupt, self, reason=reason, **continuation.instrumentation())
        raise ContinuationInterrupt(f"Interrupted {continuation.description} ({reason})")

    def serialize(self) -> JobPayload:
        """The payload plus ``continuation`` and ``resumptions`` (Rails' keys, at the end)."""
        payload = cast("dict[str, Any]", super().serialize())
        if self._continuation is None:  # not run here: the progress goes on as it came
            payload["continuation"] = {"completed": [], **self._progress}
        else:
            payload["continuation"] = self._continuation.to_dict()
        payload["resumptions"] = self.resumptions
        return cast("JobPayload", payload)

    def load_payload(self, payload: JobPayload, *, validated: bool = False) -> None:
        """Take the payload's fields; both continuation keys are optional (older payloads)."""
        super().load_payload(payload, validated=validated)
        data = cast("dict[str, Any]", payload)
        self._progress = check_progress(data.get("continuation"))
        self._continuation = None
        resumptions = data.get("resumptions", 0)
        if isinstance(resumptions, bool) or not isinstance(resumptions, int) or resumptions < 0:
            raise MalformedPayloadError("'resumptions' must be a non-negative integer")
        self.resumptions = resumptions

    @around_perform
    def _continue(self) -> Generator[None, Any, None]:
        continuation = self.continuation
        if continuation.started:
            self.resumptions += 1
            emit(signals.resume, self, **continuation.instrumentation())
        try:
            yield
        except ContinuationInterrupt as interrupt:
            self._continuation_interrupted = True
            if self._cancel_requested:  # cancel(job_id): stop here for good, status "cancelled"
                logger.info(
                    "Cancelled job %s (job_id %s) stopped at %s",
                    self.job_name, self.job_id, continuation.description,
                )  # fmt: skip
                return
            self._resume(interrupt)
        except (ContinuationError, Abort):
            raise  # Abort is control flow (a halt), never an error to resume after
        except Exception as error:
            if not (type(self).resume_errors_after_advancing and continuation.advanced):
                raise
            self._resume(error)

    def _resume(self, error: BaseException) -> None:
        key = str(error)
        self.exception_executions[key] = self.exception_executions.get(key, 0) + 1
        limit = type(self).max_resumptions
        if limit is not None and self.resumptions >= limit:
            raise ResumeLimitError(f"Job was resumed a maximum of {limit} times")
        self.retry_job(**type(self).resume_options)
        refused = self.enqueue_error
        if refused is None and not self.successfully_enqueued:  # e.g. a unique duplicate
            refused = EnqueueError(f"{self.job_name} {self.job_id}: its resume was not enqueued")
        if refused is not None:  # never end the run as done: the message stays with Celery
            self.failure_reason = "unhandled"
            raise refused from error


def _step_body(name: str, fn: Callable[..., Any]) -> Callable[[Step], Any]:
    """``fn`` as a callable taking the step; TypeError for a signature a step cannot call."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        # Its coroutine would never be awaited: the step would be marked done without running.
        raise TypeError(
            f"Step method '{name}' must be a plain function, not async: steps and checkpoints "
            "run synchronously (an async perform may call self.step with a sync function)"
        )
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return fn  # a builtin without a signature: called with the step
    if any(p.kind is p.KEYWORD_ONLY or p.kind is p.VAR_KEYWORD for p in parameters):
        raise TypeError(f"Step method '{name}' must not accept keyword arguments")
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 1:
        raise TypeError(f"Step method '{name}' must accept 0 or 1 arguments")
    if positional or any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return fn
    return lambda _step: fn()
