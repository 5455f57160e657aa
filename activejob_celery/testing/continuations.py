"""Rails' ``ActiveJob::Continuation::TestHelper``: interrupt a continuable job at a chosen point.

Example:
    >>> ImportJob.perform_later(7)                              # doctest: +SKIP
    >>> with interrupt_job_during_step(ImportJob, "process", cursor=433):   # doctest: +SKIP
    ...     perform_enqueued_jobs()
    >>> perform_enqueued_jobs()                                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..continuation import Continuable
from .swap import require_test_adapter


@contextmanager
def _stopping_when(method: str, predicate: Callable[[Any], bool]) -> Iterator[None]:
    adapter = require_test_adapter(method)
    saved = adapter.stopping
    adapter.stopping = predicate
    try:
        yield
    finally:
        adapter.stopping = saved


def interrupt_job_during_step(
    job_class: type[Continuable], step: str, cursor: Any = None
) -> AbstractContextManager[None]:
    """Inside the block, a ``job_class`` job stops when step ``step`` is at ``cursor``.

    Requires the test adapter.

    Example:
        >>> with interrupt_job_during_step(ImportJob, "process", cursor=433):   # doctest: +SKIP
        ...     perform_enqueued_jobs()
    """

    def during(job: Any) -> bool:
        if not isinstance(job, job_class):
            return False
        current = job.continuation.current
        return current is not None and current.name == step and current.cursor == cursor

    return _stopping_when("interrupt_job_during_step", during)


def interrupt_job_after_step(
    job_class: type[Continuable], step: str
) -> AbstractContextManager[None]:
    """Inside the block, a ``job_class`` job stops at the checkpoint after step ``step``.

    Requires the test adapter.

    Example:
        >>> with interrupt_job_after_step(ImportJob, "validate"):   # doctest: +SKIP
        ...     perform_enqueued_jobs()
    """

    def after(job: Any) -> bool:
        if not isinstance(job, job_class):
            return False
        continuation = job.continuation
        completed = continuation.completed
        return bool(completed) and completed[-1] == step and continuation.current is None

    return _stopping_when("interrupt_job_after_step", after)
