"""Class-body declarations: the collector the job metaclass opens, and the shared base class.

``retry_on(...)``, ``queue_as(...)``, ``before_perform(...)`` and friends are module functions.
Called in a job's class body they hand a :class:`Declaration` to the collector that the metaclass's
``__prepare__`` opened; the metaclass applies them, in order, once the class exists. Called through
the class (``MyJob.retry_on(...)``) they apply at once. Anywhere else they raise
:class:`~activejob_celery.errors.ConfigurationError`.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .base import ApplicationJob

P = ParamSpec("P")
D = TypeVar("D", bound="Declaration")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class Declaration:
    """One class-body declaration; ``apply`` records it on a job class.

    A declaration is also a method decorator, which is how Rails blocks are written here: the
    decorated function becomes ``block``.
    """

    usage: str = ""
    block: Callable[..., Any] | None = None

    def apply(self, job_class: type[ApplicationJob]) -> None:
        """Record this declaration on ``job_class``."""
        job_class._own_declarations.append(self)

    def check_complete(self) -> None:
        """Raise ConfigurationError if the class body left the declaration unfinished."""

    def __call__(self, block: F) -> F:
        """Use the decorated function as this declaration's block."""
        self.block = block
        return block


class ClassNamespace(dict[str, Any]):
    """The class-body namespace; a dict that can be weakly referenced."""


class _Collector:
    __slots__ = ("declarations", "namespace")

    def __init__(self, namespace: ClassNamespace) -> None:
        self.namespace = weakref.ref(namespace)
        self.declarations: list[Declaration] = []

    def qualname(self) -> str | None:
        namespace = self.namespace()
        return None if namespace is None else namespace.get("__qualname__")


class _State(threading.local):
    def __init__(self) -> None:
        self.collectors: list[_Collector] = []
        self.direct_target: type[ApplicationJob] | None = None


_state = _State()


def open_collector() -> ClassNamespace:
    """Start collecting declarations for a class body; returns the namespace to use."""
    _drop_stale_collectors()
    namespace = ClassNamespace()
    _state.collectors.append(_Collector(namespace))
    return namespace


def close_collector(namespace: dict[str, Any]) -> list[Declaration]:
    """Stop collecting for the class body that used ``namespace``; return its declarations.

    Collectors opened above it belong to nested class bodies that raised; they are dropped too.
    """
    collectors = _state.collectors
    for index in range(len(collectors) - 1, -1, -1):
        if collectors[index].namespace() is namespace:
            found = collectors[index]
            del collectors[index:]
            _drop_stale_collectors()
            return found.declarations
    return []


def _drop_stale_collectors() -> None:
    # A class body that raised never reaches the metaclass, so its collector stays on the stack
    # until its namespace is gone. Qualnames cannot tell such a body from one still running (a
    # factory or an import may build a job class while another class body executes), so only
    # the namespace's lifetime decides.
    _state.collectors[:] = [c for c in _state.collectors if c.qualname() is not None]


def collect(declaration: D) -> D:
    """Apply ``declaration`` to the class being declared, or raise ``ConfigurationError``."""
    target = _state.direct_target
    if target is not None:
        _state.direct_target = None
        declaration.apply(target)
        target._rebuild_tables()
        return declaration
    _drop_stale_collectors()
    collector = _running_collector()
    if collector is None:
        raise ConfigurationError(
            f"{declaration.usage or type(declaration).__name__} must be called in the body of an "
            "ApplicationJob subclass, or on the class itself, for example:\n"
            f"    class ReportJob(ApplicationJob):\n        {declaration.usage}\n"
            f"or  ReportJob.{declaration.usage}"
        )
    collector.declarations.append(declaration)
    return declaration


def _running_collector() -> _Collector | None:
    """The collector of the innermost job class body running on this thread's stack, or None.

    A body that raised leaves its collector while something (a traceback's reference cycle)
    keeps its namespace; it is not on the stack any more, so a call made outside every class
    body is refused whatever the garbage collector has done.
    """
    live = {id(ns): c for c in _state.collectors if (ns := c.namespace()) is not None}
    frame = sys._getframe(2) if live else None  # above collect() and its declaration function
    while frame is not None:
        # A class body's (or module's) frame has its namespace as f_locals; a function's frame
        # is skipped: reading its f_locals would build a snapshot of its variables.
        if not frame.f_code.co_flags & inspect.CO_OPTIMIZED:
            found = live.get(id(frame.f_locals))
            if found is not None:
                return found
        frame = frame.f_back
    return None


@contextmanager
def applying_to(job_class: type[ApplicationJob]) -> Iterator[None]:
    """Make the next ``collect`` apply straight to ``job_class`` (the classmethod form)."""
    previous = _state.direct_target
    _state.direct_target = job_class
    try:
        yield
    finally:
        _state.direct_target = previous


class declared_classmethod(Generic[P, R]):
    """Expose a declaration function as a classmethod: ``MyJob.retry_on(...)``."""

    def __init__(self, function: Callable[P, R]) -> None:
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, instance: object, owner: type[ApplicationJob]) -> Callable[P, R]:
        function = self.function

        def apply_to_owner(*args: P.args, **kwargs: P.kwargs) -> R:
            with applying_to(owner):
                return function(*args, **kwargs)

        apply_to_owner.__doc__ = function.__doc__
        return apply_to_owner


def describe_target(target: object) -> str:
    """How a declaration's argument reads in error messages: class name, quoted name or callable."""
    if isinstance(target, type):
        return target.__qualname__
    if isinstance(target, str):
        return repr(target)
    return getattr(target, "__qualname__", None) or repr(target)
