"""Counting assertions: ``assert_enqueued_jobs``, ``assert_performed_jobs``, their ``no_`` forms."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from ..adapters.testing import JobFilter, Record, check_filters, jobs_with
from .matching import describe, view
from .perform import performing_enqueued_jobs
from .swap import require_test_adapter

if TYPE_CHECKING:
    from ..adapters.testing import TestAdapter


def assert_enqueued_jobs(
    number: int,
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    block: Callable[[], Any] | None = None,
) -> None:
    """Assert how many jobs are enqueued, or were enqueued by ``block``.

    Args:
        number: the expected count.
        only: count only this job class, these classes, or records a callable accepts.
        exclude: count all but these (Rails ``except:``); not together with ``only``.
        queue: count only jobs on this queue.
        block: a callable taking no arguments; then only jobs it enqueues count.

    Raises:
        AssertionError: "2 jobs expected, but 1 was enqueued", followed by the jobs seen.

    Example:
        >>> assert_enqueued_jobs(1, only=NotificationJob,             # doctest: +SKIP
        ...                      block=lambda: NotificationJob.perform_later(user, "hi"))
    """
    adapter = require_test_adapter("assert_enqueued_jobs")
    if block is None:
        check_filters(only, exclude)
        _check(number, adapter.enqueued_jobs, "enqueued", only, exclude, queue)
        return
    with _expect_enqueued(adapter, number, only, exclude, queue):
        block()


def assert_no_enqueued_jobs(
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    block: Callable[[], Any] | None = None,
) -> None:
    """Assert that no jobs are enqueued, or that ``block`` enqueues none.

    Example:
        >>> assert_no_enqueued_jobs(block=lambda: ProcessUserJob.perform_now(9))  # doctest: +SKIP
    """
    require_test_adapter("assert_no_enqueued_jobs")
    assert_enqueued_jobs(0, only=only, exclude=exclude, queue=queue, block=block)


def assert_performed_jobs(
    number: int,
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    block: Callable[[], Any] | None = None,
) -> None:
    """Assert how many jobs were performed, or that ``block`` makes that many run.

    With ``block``, the jobs it enqueues are performed (``perform_enqueued_jobs`` with the
    same filters, which then select what runs) and every job performed is counted.

    Example:
        >>> assert_performed_jobs(1, block=lambda: HelloJob.perform_later("hi"))  # doctest: +SKIP
    """
    adapter = require_test_adapter("assert_performed_jobs")
    if block is None:
        check_filters(only, exclude)
        _check(number, adapter.performed_jobs, "performed", only, exclude, queue)
        return
    with _expect_performed(adapter, number, only, exclude, queue):
        block()


def assert_no_performed_jobs(
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    block: Callable[[], Any] | None = None,
) -> None:
    """Assert that no jobs were performed, or that ``block`` makes none run.

    Example:
        >>> assert_no_performed_jobs(only=NotificationJob,     # doctest: +SKIP
        ...                          block=lambda: HelloJob.perform_later())
    """
    require_test_adapter("assert_no_performed_jobs")
    assert_performed_jobs(0, only=only, exclude=exclude, queue=queue, block=block)


def expect_enqueued_jobs(
    number: int, *, only: JobFilter = None, exclude: JobFilter = None, queue: str | None = None
) -> AbstractContextManager[None]:
    """The ``with`` form of ``assert_enqueued_jobs(number, block=...)``.

    Example:
        >>> with expect_enqueued_jobs(2, queue="default"):     # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "a")
        ...     NotificationJob.perform_later(user, "b")
    """
    adapter = require_test_adapter("expect_enqueued_jobs")
    return _expect_enqueued(adapter, number, only, exclude, queue)


def expect_no_enqueued_jobs(
    *, only: JobFilter = None, exclude: JobFilter = None, queue: str | None = None
) -> AbstractContextManager[None]:
    """The ``with`` form of ``assert_no_enqueued_jobs(block=...)``.

    Example:
        >>> with expect_no_enqueued_jobs():                    # doctest: +SKIP
        ...     ProcessUserJob.perform_now(999999)
    """
    adapter = require_test_adapter("expect_no_enqueued_jobs")
    return _expect_enqueued(adapter, 0, only, exclude, queue)


def expect_performed_jobs(
    number: int, *, only: JobFilter = None, exclude: JobFilter = None, queue: str | None = None
) -> AbstractContextManager[None]:
    """The ``with`` form of ``assert_performed_jobs(number, block=...)``: performs, then counts.

    Example:
        >>> with expect_performed_jobs(1):                     # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "hi")
    """
    adapter = require_test_adapter("expect_performed_jobs")
    return _expect_performed(adapter, number, only, exclude, queue)


def expect_no_performed_jobs(
    *, only: JobFilter = None, exclude: JobFilter = None, queue: str | None = None
) -> AbstractContextManager[None]:
    """The ``with`` form of ``assert_no_performed_jobs(block=...)``.

    Example:
        >>> with expect_no_performed_jobs(only=NotificationJob):   # doctest: +SKIP
        ...     HelloJob.perform_later()
    """
    adapter = require_test_adapter("expect_no_performed_jobs")
    return _expect_performed(adapter, 0, only, exclude, queue)


@contextmanager
def _expect_enqueued(
    adapter: TestAdapter, number: int, only: JobFilter, exclude: JobFilter, queue: str | None
) -> Iterator[None]:
    check_filters(only, exclude)
    before = list(adapter.enqueued_jobs)  # holding them keeps their ids unique
    seen = {id(record) for record in before}
    yield
    added = [record for record in adapter.enqueued_jobs if id(record) not in seen]
    _check(number, added, "enqueued", only, exclude, queue)


@contextmanager
def _expect_performed(
    adapter: TestAdapter, number: int, only: JobFilter, exclude: JobFilter, queue: str | None
) -> Iterator[None]:
    start = len(adapter.performed_jobs)
    with performing_enqueued_jobs(only=only, exclude=exclude, queue=queue):
        yield
    # Rails counts growth here: the filters already chose which jobs ran.
    _check(number, adapter.performed_jobs[start:], "performed", None, None, None)


def _check(
    number: int,
    records: list[Record],
    verb: str,
    only: JobFilter,
    exclude: JobFilter,
    queue: str | None,
) -> None:
    counted = jobs_with(records, only=only, exclude=exclude, queue=queue)
    if len(counted) == number:
        return
    jobs = "job" if number == 1 else "jobs"
    were = "was" if len(counted) == 1 else "were"
    message = f"{number} {jobs} expected, but {len(counted)} {were} {verb}"
    if counted:
        message += f"\n\n{verb.capitalize()}:\n" + _lines(counted)
    ids = {id(record) for record in counted}
    others = [record for record in records if id(record) not in ids]
    if others:
        message += f"\n\nAlso {verb}, not counted (only/exclude/queue):\n" + _lines(others)
    raise AssertionError(message)


def _lines(records: list[Record]) -> str:
    return "\n".join(f"  {describe(view(record))}" for record in records)
