"""The test adapter: records what is enqueued and performs it when asked (Rails ``TestAdapter``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from ..arguments import deserialize_arguments
from ..core import JobPayload
from ..errors import DeserializationError
from ..execution import perform_now
from .base import QueueAdapter

if TYPE_CHECKING:
    from ..base import ApplicationJob

JobFilter = type | list[type] | tuple[type, ...] | Callable[[Any], Any] | None
"""A job class, a list of classes, or a callable (given a job, or a record when filtering)."""

Record = dict[str, Any]
"""One enqueue as the test adapter keeps it: the payload keys plus ``job``, ``args``, ``kwargs``,
``queue``, ``priority`` and ``at``."""

PAYLOAD_KEYS: tuple[str, ...] = tuple(JobPayload.__annotations__)
OPTIONAL_PAYLOAD_KEYS: tuple[str, ...] = (
    "continuation", "resumptions", "result_id", "unique", "timeout",
)  # fmt: skip
"""Payload keys only some jobs write (``Continuable``); a record keeps them for the next run."""


class TestAdapter(QueueAdapter):
    """Keeps enqueued jobs in ``enqueued_jobs``; with ``perform_enqueued_jobs`` on, runs them.

    A record is a dict of the payload keys plus ``job`` (the class), ``args`` and ``kwargs``
    (the arguments as given), ``queue``, ``priority`` and ``at`` (epoch seconds or None).
    The flags and filters are what ``perform_enqueued_jobs(block=...)`` sets for its block.

    Example:
        >>> adapter = TestAdapter()
        >>> GuestsCleanupJob.queue_adapter = adapter           # doctest: +SKIP
        >>> GuestsCleanupJob.perform_later(42)                 # doctest: +SKIP
        >>> adapter.enqueued_jobs[0]["args"]                   # doctest: +SKIP
        [42]
    """

    __test__ = False  # not a pytest test class
    display_name: ClassVar[str] = "Test"
    max_depth: ClassVar[int] = 50
    """How deep jobs performed inside jobs may nest before the adapter stops a runaway chain."""

    def __init__(self) -> None:
        self.enqueued_jobs: list[Record] = []
        self.performed_jobs: list[Record] = []
        self.perform_enqueued_jobs = False
        self.perform_enqueued_at_jobs = False
        self.filter: JobFilter = None
        self.reject: JobFilter = None
        self.queue: str | None = None
        self.at: float | None = None
        self.stopping: bool | Callable[[Any], bool | str] = False
        """Rails ``stopping``: continuable jobs stop at checkpoints while true (a callable gets the
        job; a string it returns is the reason logged)."""
        self._depth = 0

    def enqueue(self, job: ApplicationJob) -> None:
        """Record ``job``, or perform it now when the flags and filters say so."""
        self._take(job, None)

    def enqueue_at(self, job: ApplicationJob, timestamp: float) -> None:
        """Record ``job`` for ``timestamp``, or perform it now when the flags and filters say so."""
        self._take(job, timestamp)

    def _take(self, job: ApplicationJob, at: float | None) -> None:
        job.provider_job_id = str(uuid.uuid4())
        payload = job.serialize()
        record = self.record(job, payload, at)
        if not self.should_perform(job, at):
            self.enqueued_jobs.append(record)
            return
        if self._depth >= self.max_depth:
            raise RuntimeError(
                f"perform_enqueued_jobs: {self.max_depth} jobs ran inside one another "
                f"(the last was {type(job).__qualname__}); a job that retries or re-enqueues "
                "itself for ever? Limit it with at= or only=, or use perform_enqueued_jobs() "
                "without a block to run one round at a time"
            )

        self.performed_jobs.append(record)
        self._depth += 1
        try:
            perform_now(instantiate(record))
        except Exception as error:
            if self._depth == 1:
                _explain(error, job)
            raise
        finally:
            self._depth -= 1

    @staticmethod
    def record(job: ApplicationJob, payload: JobPayload, at: float | None) -> Record:
        """The record kept for one enqueue.

        Example:
            >>> TestAdapter.record(job, job.serialize(), None)["args"]   # doctest: +SKIP
            [42]
        """
        args, kwargs = _given_arguments(job, payload)
        return {
            **payload,
            "job": type(job),
            "args": args,
            "kwargs": kwargs,
            "queue": payload["queue_name"],
            "priority": payload["priority"],
            "at": at,
        }

    def should_perform(self, job: ApplicationJob, at: float | None) -> bool:
        """Whether a job enqueued now runs at once under the current flags and filters.

        Example:
            >>> TestAdapter().should_perform(GuestsCleanupJob(42), None)   # doctest: +SKIP
            False
        """
        wanted = self.perform_enqueued_jobs if at is None else self.perform_enqueued_at_jobs
        if not wanted:
            return False
        if self.queue is not None and job.queue_name != str(self.queue):
            return False
        if self.filter is not None and not matches(self.filter, job):
            return False
        if self.reject is not None and matches(self.reject, job):
            return False
        return not (at is not None and self.at is not None and at > self.at)

    def clear(self) -> None:
        """Forget every recorded job.

        Example:
            >>> TestAdapter().clear()
        """
        self.enqueued_jobs.clear()
        self.performed_jobs.clear()


def _explain(error: Exception, job: ApplicationJob) -> None:
    # Rails #41290: a job's error surfacing at perform_later surprises tests; say why it did.
    add_note = getattr(error, "add_note", None)  # Python 3.11+
    if add_note is not None and not isinstance(error, AssertionError):
        add_note(
            f"(raised by {type(job).__qualname__}, performed at once inside "
            "perform_enqueued_jobs: a job's error reaches the code that enqueued it; put "
            "pytest.raises / assertRaises inside the block if you expect it)"
        )


def _given_arguments(job: ApplicationJob, payload: JobPayload) -> tuple[list[Any], dict[str, Any]]:
    # A job rebuilt from a payload and enqueued again before its arguments were decoded
    # (a retry after a DeserializationError) has them only in encoded form.
    if job.arguments or job.keyword_arguments or not payload["arguments"]:
        return list(job.arguments), dict(job.keyword_arguments)
    try:
        return deserialize_arguments(payload["arguments"])
    except DeserializationError:
        return list(payload["arguments"]), {}


def matches(job_filter: JobFilter, subject: Any) -> bool:
    """Whether ``subject`` (a job or a record) passes ``job_filter`` (classes or a callable).

    Example:
        >>> matches([HelloJob, LoggingJob], {"job": HelloJob})   # doctest: +SKIP
        True
    """
    if job_filter is None:
        return True
    job_class = subject["job"] if isinstance(subject, dict) else type(subject)
    if isinstance(job_filter, type):
        return job_class is job_filter
    if isinstance(job_filter, list | tuple):
        return job_class in job_filter
    return bool(job_filter(subject))


def check_filters(only: JobFilter, exclude: JobFilter) -> None:
    """Rails refuses ``only`` together with ``except``; so do we.

    Example:
        >>> check_filters(None, None)
    """
    if only is not None and exclude is not None:
        raise ValueError("Cannot specify both `only` and `exclude` options.")


def epoch(at: datetime | float | None) -> float | None:
    """``at`` as epoch seconds; a naive datetime is UTC, as ``set(wait_until=...)`` takes it.

    Example:
        >>> epoch(datetime(1970, 1, 1, 0, 1))
        60.0
    """
    if at is None or isinstance(at, int | float):
        return at
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.timestamp()


def jobs_with(
    records: Iterable[Record],
    *,
    only: JobFilter = None,
    exclude: JobFilter = None,
    queue: str | None = None,
    at: datetime | float | None = None,
) -> list[Record]:
    """The records passing the filters (Rails ``jobs_with``); callables get the record.

    Example:
        >>> jobs_with(adapter.enqueued_jobs, only=HelloJob, queue="default")   # doctest: +SKIP
        [{'job_class': 'shop.jobs.HelloJob', ...}]
    """
    check_filters(only, exclude)
    limit = epoch(at)
    selected = []
    for record in records:
        if only is not None and not matches(only, record):
            continue
        if exclude is not None and matches(exclude, record):
            continue
        if queue is not None and str(queue) != record["queue"]:
            continue
        if limit is not None and record["at"] is not None and record["at"] > limit:
            continue
        selected.append(record)
    return selected


def instantiate(record: Record) -> ApplicationJob:
    """The job a record describes, built from its payload; arguments stay encoded until run.

    Example:
        >>> instantiate(adapter.enqueued_jobs[0]).job_id      # doctest: +SKIP
        '3703347c-71f0-4182-af70-3b79698d8492'
    """
    job_class: type[ApplicationJob] = record["job"]
    job = job_class.__new__(job_class)
    job.__init__()  # type: ignore[misc]
    keys = (*PAYLOAD_KEYS, *OPTIONAL_PAYLOAD_KEYS)
    job.load_payload({key: record[key] for key in keys if key in record})  # type: ignore[arg-type]
    return job
