"""``perform_enqueued_jobs`` and the lists of enqueued and performed jobs (Rails TestHelper)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar, overload

from ..adapters.testing import JobFilter, Record, check_filters, epoch, instantiate, jobs_with
from ..execution import perform_now
from .swap import require_test_adapter, using_test_adapter

T = TypeVar("T")


@overload
def perform_enqueued_jobs(
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    at: datetime | float | None = None,
    block: None = None,
) -> int: ...


@overload
def perform_enqueued_jobs(
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    at: datetime | float | None = None,
    block: Callable[[], T],
) -> T: ...


def perform_enqueued_jobs(
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    at: datetime | float | None = None,
    block: Callable[[], T] | None = None,
) -> T | int:
    """Perform jobs: those enqueued inside ``block``, or without it those enqueued until now.

    With ``block``, every job enqueued while it runs is performed at once, in the enqueuing
    call, with its retries (scheduled ones too, unless ``at`` says otherwise) and the jobs it
    enqueues in turn; their errors reach the enqueuer. Jobs enqueued before are not run.
    Returns what ``block`` returned.

    Without ``block``, takes a snapshot of the enqueued jobs passing the filters and performs
    each once: jobs enqueued meanwhile (a failing job's retry) stay enqueued for the next call
    (Rails #38686). Returns how many were performed.

    Args:
        only: a job class, a list of them or a callable; only these are performed.
        exclude: the same, for jobs not to perform (Rails ``except:``).
        queue: only jobs on this queue.
        at: only jobs due by then (a datetime or epoch seconds); unscheduled jobs always are.
        block: a callable taking no arguments.

    Example:
        >>> perform_enqueued_jobs(block=lambda: NotificationJob.perform_later(7))  # doctest: +SKIP
        >>> NotificationJob.perform_later(8)                   # doctest: +SKIP
        >>> perform_enqueued_jobs()                            # doctest: +SKIP
        1
    """
    if block is None:
        return _flush(only=only, exclude=exclude, queue=queue, at=at)
    with performing_enqueued_jobs(only=only, exclude=exclude, queue=queue, at=at):
        return block()


@contextmanager
def performing_enqueued_jobs(
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    at: datetime | float | None = None,
) -> Iterator[None]:
    """The ``with`` form of ``perform_enqueued_jobs(block=...)``.

    Jobs enqueued inside the ``with`` block are performed at once; the flags are restored on
    exit. Without a test adapter in use the block simply runs (as in Rails).

    Example:
        >>> with performing_enqueued_jobs(only=NotificationJob):   # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "hi")
    """
    check_filters(only, exclude)
    if not using_test_adapter():
        yield
        return
    adapter = require_test_adapter("performing_enqueued_jobs")
    saved = (
        adapter.perform_enqueued_jobs,
        adapter.perform_enqueued_at_jobs,
        adapter.filter,
        adapter.reject,
        adapter.queue,
        adapter.at,
    )
    adapter.perform_enqueued_jobs = adapter.perform_enqueued_at_jobs = True
    adapter.filter, adapter.reject, adapter.queue, adapter.at = only, exclude, queue, epoch(at)
    try:
        yield
    finally:
        (
            adapter.perform_enqueued_jobs,
            adapter.perform_enqueued_at_jobs,
            adapter.filter,
            adapter.reject,
            adapter.queue,
            adapter.at,
        ) = saved


def _flush(
    *, only: JobFilter, exclude: JobFilter, queue: str | None, at: datetime | float | None
) -> int:
    adapter = require_test_adapter("perform_enqueued_jobs (without a block)")
    snapshot = jobs_with(adapter.enqueued_jobs, only=only, exclude=exclude, queue=queue, at=at)
    for record in snapshot:
        for index, candidate in enumerate(adapter.enqueued_jobs):
            if candidate is record:
                del adapter.enqueued_jobs[index]
                break
        adapter.performed_jobs.append(record)
        perform_now(instantiate(record))
    return len(snapshot)


def enqueued_jobs() -> list[Record]:
    """The test adapter's list of enqueued records (live: ``clear()`` works on it).

    Example:
        >>> GuestsCleanupJob.perform_later(42)                 # doctest: +SKIP
        >>> enqueued_jobs()[0]["args"]                         # doctest: +SKIP
        [42]
    """
    return require_test_adapter("enqueued_jobs").enqueued_jobs


def performed_jobs() -> list[Record]:
    """The test adapter's list of performed records.

    Example:
        >>> perform_enqueued_jobs(block=lambda: GuestsCleanupJob.perform_later(4))  # doctest: +SKIP
        >>> performed_jobs()[0]["job"]                         # doctest: +SKIP
        <class 'shop.jobs.GuestsCleanupJob'>
    """
    return require_test_adapter("performed_jobs").performed_jobs


def clear_enqueued_jobs() -> None:
    """Forget the enqueued records.

    Example:
        >>> clear_enqueued_jobs()                              # doctest: +SKIP
    """
    require_test_adapter("clear_enqueued_jobs").enqueued_jobs.clear()


def clear_performed_jobs() -> None:
    """Forget the performed records.

    Example:
        >>> clear_performed_jobs()                             # doctest: +SKIP
    """
    require_test_adapter("clear_performed_jobs").performed_jobs.clear()
