"""Before, around and after callbacks for perform and enqueue, and the chain that runs them.

Order follows Rails: one chain per event in declaration order, inherited callbacks first; before
callbacks run in order, after callbacks in reverse, and an around callback wraps everything
declared after it. An ``around_*`` callback is a generator that yields once. Raising
:class:`~activejob_celery.errors.Abort` in a before callback halts the chain: the body and the
after callbacks do not run.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from .declaration import Declaration, collect, describe_target
from .errors import Abort, ConfigurationError

if TYPE_CHECKING:
    from .base import ApplicationJob

Chain = Literal["perform", "enqueue"]
Kind = Literal["before", "after", "around"]
Target = TypeVar("Target", bound="str | Callable[..., Any]")


class _Halted:
    def __repr__(self) -> str:
        return "HALTED"


HALTED: Final = _Halted()
"""Returned by :func:`run_callbacks` when a callback raised ``Abort``."""


class CallbackDeclaration(Declaration):
    """``before_perform(...)`` and its siblings, as recorded on the class."""

    def __init__(self, chain: Chain, kind: Kind, target: str | Callable[..., Any]) -> None:
        self.chain: Chain = chain
        self.kind: Kind = kind
        self.target = target
        self.usage = f"{kind}_{chain}({describe_target(target)})"
        if not isinstance(target, str) and not callable(target):
            raise ConfigurationError(f"{self.usage}: give a method name, a callable or decorate")
        if kind == "around" and callable(target) and not _yields(target):
            raise ConfigurationError(
                f"{self.usage}: an around callback must be a generator function that yields once"
            )

    def bind(self, job_class: type[ApplicationJob]) -> Callback:
        """Resolve a method name against ``job_class``; ConfigurationError if it is missing."""
        function: Any = self.target
        if isinstance(function, str):
            function = getattr(job_class, function, None)
            if not callable(function):
                raise ConfigurationError(
                    f"{self.usage}: {job_class.__qualname__} has no method {self.target!r}"
                )
            if self.kind == "around" and not _yields(function):
                raise ConfigurationError(
                    f"{self.usage}: {self.target!r} must be a generator method that yields once"
                )
        return Callback(self.kind, function)


@dataclasses.dataclass(frozen=True, slots=True)
class Callback:
    """A bound callback: ``function(job)``; for ``around`` a generator function."""

    kind: Kind
    function: Callable[..., Any]


def run_callbacks(
    job: ApplicationJob, callbacks: tuple[Callback, ...], body: Callable[[], Any]
) -> Any:
    """Run ``body`` inside ``callbacks``; returns its result, or HALTED if a callback aborted."""
    if not callbacks:
        return body()
    return _run(job, callbacks, 0, body)


def _run(
    job: ApplicationJob, callbacks: tuple[Callback, ...], index: int, body: Callable[[], Any]
) -> Any:
    if index == len(callbacks):
        return body()
    callback = callbacks[index]
    if callback.kind == "before":
        try:
            callback.function(job)
        except Abort:
            return HALTED
        return _run(job, callbacks, index + 1, body)
    if callback.kind == "after":
        result = _run(job, callbacks, index + 1, body)
        if result is not HALTED:
            callback.function(job)
        return result
    return _run_around(job, callback.function(job), callbacks, index, body)


def _run_around(
    job: ApplicationJob,
    generator: Generator[Any, Any, Any],
    callbacks: tuple[Callback, ...],
    index: int,
    body: Callable[[], Any],
) -> Any:
    try:
        next(generator)
    except StopIteration:
        return None  # the around callback never yielded: the body is skipped, as in Rails
    except Abort:
        return HALTED
    try:
        result = _run(job, callbacks, index + 1, body)
    except BaseException as error:
        try:
            generator.throw(error)
        except StopIteration:
            return None  # the around callback swallowed the error
        raise RuntimeError("an around callback yielded more than once") from error
    try:
        # `result = yield` sees the body's value, as Rails' `value = block.call` does;
        # None when a later before callback halted and the body never ran.
        generator.send(None if result is HALTED else result)
    except StopIteration:
        return result
    raise RuntimeError("an around callback yielded more than once")


def _yields(function: Any) -> bool:
    # An around callback is a generator function, or an async one for async jobs.
    return inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)


def _declare(chain: Chain, kind: Kind, target: Target) -> Target:
    collect(CallbackDeclaration(chain, kind, target))
    return target


def before_perform(target: Target) -> Target:
    """Run ``target`` before ``perform``; raise ``Abort`` in it to halt.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     before_perform("load_guests")
        ...     @before_perform
        ...     def check(self): ...
    """
    return _declare("perform", "before", target)


def after_perform(target: Target) -> Target:
    """Run ``target`` after ``perform`` succeeded (reverse declaration order).

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     @after_perform
        ...     def notify(self): ...
    """
    return _declare("perform", "after", target)


def around_perform(target: Target) -> Target:
    """Wrap ``perform`` with a generator that yields once.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     @around_perform
        ...     def timed(self):
        ...         started = time.monotonic()
        ...         yield
        ...         log.info("took %.1fs", time.monotonic() - started)
    """
    return _declare("perform", "around", target)


def before_enqueue(target: Target) -> Target:
    """Run ``target`` before the job is handed to the adapter; ``Abort`` halts the enqueue.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     @before_enqueue
        ...     def stamp(self): ...
    """
    return _declare("enqueue", "before", target)


def after_enqueue(target: Target) -> Target:
    """Run ``target`` after the enqueue attempt (also when the broker refused it).

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     after_enqueue("track")
    """
    return _declare("enqueue", "after", target)


def around_enqueue(target: Target) -> Target:
    """Wrap the enqueue with a generator that yields once.

    Example:
        >>> class GuestsCleanupJob(ApplicationJob):            # doctest: +SKIP
        ...     @around_enqueue
        ...     def traced(self):
        ...         with tracer.span("enqueue"):
        ...             yield
    """
    return _declare("enqueue", "around", target)
