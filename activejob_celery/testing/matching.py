"""``assert_enqueued_with`` and ``assert_performed_with``: find a job by class, arguments, time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..adapters.testing import Record, epoch, instantiate
from ..arguments import deserialize_arguments
from ..errors import DeserializationError
from .perform import performing_enqueued_jobs
from .swap import require_test_adapter

if TYPE_CHECKING:
    from ..adapters.testing import TestAdapter
    from ..base import ApplicationJob

Matcher = Callable[[Any], Any]
_KEYS = ("job", "args", "kwargs", "queue", "priority", "at")


class JobMatch:
    """What an ``expect_enqueued_with`` / ``expect_performed_with`` block found.

    Example:
        >>> with expect_enqueued_with(job=NotificationJob) as found:   # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "hi")
        >>> found.job.arguments                                       # doctest: +SKIP
        [<User 1>, 'hi']
    """

    job: ApplicationJob | None = None
    """The matched job, instantiated with its arguments decoded; set when the block ends."""


def assert_enqueued_with(
    *,
    job: type[ApplicationJob] | Matcher | None = None,
    args: list[Any] | tuple[Any, ...] | Matcher | None = None,
    kwargs: dict[str, Any] | Matcher | None = None,
    queue: str | Matcher | None = None,
    priority: int | Matcher | None = None,
    at: datetime | float | Matcher | None = None,
    block: Callable[[], Any] | None = None,
) -> ApplicationJob:
    """Assert a job was enqueued with the given attributes; returns it, instantiated.

    Only the attributes given are compared (so ``priority=None`` asserts nothing, as in Rails).
    ``args`` and ``kwargs`` are compared after a payload round trip, as the worker will see
    them; ``at`` (a datetime or epoch seconds) matches within one second; any expectation may
    be a callable returning whether the actual value is right. With ``block``, only jobs
    enqueued inside it are candidates.

    Raises:
        AssertionError: no job matches; the message lists what was enqueued instead.

    Example:
        >>> assert_enqueued_with(job=NotificationJob, args=[user, "test"])   # doctest: +SKIP
        >>> assert_enqueued_with(job=NotificationJob, queue="default", # doctest: +SKIP
        ...                      block=lambda: NotificationJob.perform_later(user, "test"))
    """
    expected = _expected(job, args, kwargs, queue, priority, at)
    adapter = require_test_adapter("assert_enqueued_with")
    if block is None:
        return _find(adapter.enqueued_jobs, expected, "enqueued")
    with _enqueued_during(adapter) as added:
        block()
    return _find(added, expected, "enqueued")


def assert_performed_with(
    *,
    job: type[ApplicationJob] | Matcher | None = None,
    args: list[Any] | tuple[Any, ...] | Matcher | None = None,
    kwargs: dict[str, Any] | Matcher | None = None,
    queue: str | Matcher | None = None,
    priority: int | Matcher | None = None,
    at: datetime | float | Matcher | None = None,
    block: Callable[[], Any] | None = None,
) -> ApplicationJob:
    """Assert a job was performed with the given attributes; returns it, instantiated.

    Matching is as in :func:`assert_enqueued_with`. With ``block``, the jobs enqueued inside it
    are performed (``perform_enqueued_jobs``) and only those are candidates.

    Example:
        >>> assert_performed_with(job=NotificationJob, args=[user, "hi"], # doctest: +SKIP
        ...                       block=lambda: NotificationJob.perform_later(user, "hi"))
    """
    expected = _expected(job, args, kwargs, queue, priority, at)
    adapter = require_test_adapter("assert_performed_with")
    if block is None:
        return _find(adapter.performed_jobs, expected, "performed")
    start = len(adapter.performed_jobs)
    with performing_enqueued_jobs():
        block()
    return _find(adapter.performed_jobs[start:], expected, "performed")


@contextmanager
def expect_enqueued_with(
    *,
    job: type[ApplicationJob] | Matcher | None = None,
    args: list[Any] | tuple[Any, ...] | Matcher | None = None,
    kwargs: dict[str, Any] | Matcher | None = None,
    queue: str | Matcher | None = None,
    priority: int | Matcher | None = None,
    at: datetime | float | Matcher | None = None,
) -> Iterator[JobMatch]:
    """The ``with`` form of ``assert_enqueued_with(block=...)``; the match is in ``.job``.

    Example:
        >>> with expect_enqueued_with(job=NotificationJob) as found:   # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "test")
        >>> found.job.queue_name                                      # doctest: +SKIP
        'default'
    """
    expected = _expected(job, args, kwargs, queue, priority, at)
    adapter = require_test_adapter("expect_enqueued_with")
    found = JobMatch()
    with _enqueued_during(adapter) as added:
        yield found
    found.job = _find(added, expected, "enqueued")


@contextmanager
def expect_performed_with(
    *,
    job: type[ApplicationJob] | Matcher | None = None,
    args: list[Any] | tuple[Any, ...] | Matcher | None = None,
    kwargs: dict[str, Any] | Matcher | None = None,
    queue: str | Matcher | None = None,
    priority: int | Matcher | None = None,
    at: datetime | float | Matcher | None = None,
) -> Iterator[JobMatch]:
    """The ``with`` form of ``assert_performed_with(block=...)``: performs what the block enqueues.

    Example:
        >>> with expect_performed_with(job=NotificationJob) as found:   # doctest: +SKIP
        ...     NotificationJob.perform_later(user, "test")
    """
    expected = _expected(job, args, kwargs, queue, priority, at)
    adapter = require_test_adapter("expect_performed_with")
    found = JobMatch()
    start = len(adapter.performed_jobs)
    with performing_enqueued_jobs():
        yield found
    found.job = _find(adapter.performed_jobs[start:], expected, "performed")


@contextmanager
def _enqueued_during(adapter: TestAdapter) -> Iterator[list[Record]]:
    before = list(adapter.enqueued_jobs)  # holding them keeps their ids unique
    seen = {id(record) for record in before}
    added: list[Record] = []
    yield added
    added.extend(record for record in adapter.enqueued_jobs if id(record) not in seen)


def _expected(*values: Any) -> dict[str, Any]:
    expected = {key: value for key, value in zip(_KEYS, values, strict=True) if value is not None}
    args = expected.get("args")
    if args is not None and not _is_matcher(args) and not isinstance(args, list | tuple):
        raise TypeError(f"args= takes the list of positional arguments or a callable, not {args!r}")
    return expected


def _is_matcher(value: Any) -> bool:
    return callable(value) and not isinstance(value, type)


def _matches(expected: dict[str, Any], view: dict[str, Any]) -> bool:
    for key, wanted in expected.items():
        actual = view[key]
        if _is_matcher(wanted):
            ok = bool(wanted(actual))
        elif key == "job":
            ok = actual is wanted
        elif key == "args":
            ok = list(wanted) == actual
        elif key == "queue":
            ok = str(wanted) == actual
        elif key == "at":
            limit = epoch(wanted)
            ok = actual is not None and limit is not None and abs(actual.timestamp() - limit) <= 1
        else:
            ok = wanted == actual
        if not ok:
            return False
    return True


def view(record: Record) -> dict[str, Any]:
    """A record as assertions see it: arguments decoded, ``at`` as an aware datetime.

    Example:
        >>> view(enqueued_jobs()[0])["args"]                    # doctest: +SKIP
        [<User 1>, 'test']
    """
    try:
        args, kwargs = deserialize_arguments(record["arguments"])
    except DeserializationError:
        args, kwargs = record["args"], record["kwargs"]
    at = record["at"]
    return {
        "job": record["job"],
        "args": args,
        "kwargs": kwargs,
        "queue": record["queue"],
        "priority": record["priority"],
        "at": None if at is None else datetime.fromtimestamp(at, timezone.utc),
    }


def describe(values: dict[str, Any]) -> str:
    """``{'job': NotificationJob, 'args': [1], ...}``: classes by name, times in ISO 8601.

    Example:
        >>> describe({"queue": "default", "priority": 5})
        "{'queue': 'default', 'priority': 5}"
    """
    return "{" + ", ".join(f"{key!r}: {_show(value)}" for key, value in values.items()) + "}"


def _show(value: Any) -> str:
    if isinstance(value, type):
        return value.__qualname__
    if isinstance(value, datetime):
        return value.isoformat()
    if callable(value) and hasattr(value, "__qualname__"):
        return f"<function {value.__qualname__}>"
    return repr(value)


def _find(records: list[Record], expected: dict[str, Any], verb: str) -> ApplicationJob:
    views = [view(record) for record in records]
    for record, candidate in zip(records, views, strict=True):
        if _matches(expected, candidate):
            job = instantiate(record)
            job.decode_arguments()
            return job
    message = f"No {verb} job found with {describe(expected)}"
    wanted = expected.get("job")
    same_class = [v for v in views if not isinstance(wanted, type) or v["job"] is wanted]
    if not views:
        message += f"\n\nNo jobs were {verb}"
    elif not same_class:
        classes = ", ".join(dict.fromkeys(v["job"].__qualname__ for v in views))
        message += f"\n\nNo jobs of class {_show(wanted)} were {verb}, job classes {verb}: "
        message += classes
    else:
        message += "\n\nPotential matches: " + "\n".join(describe(v) for v in same_class)
    raise AssertionError(message)
