"""Per-job state and the payload: ``serialize`` and ``deserialize`` in the Rails 8.1 shape."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, cast

from .arguments import deserialize_arguments, serialize_arguments
from .config import current_settings
from .errors import ConfigurationError, MalformedPayloadError
from .ids import new_id as new_id  # re-exported: ids used to live here
from .queue_name import queue_name_from_part, resolve_queue_name
from .queue_priority import resolve_priority
from .timeouts import is_seconds

if TYPE_CHECKING:
    from collections.abc import Callable


class JobPayload(TypedDict):
    """The job as it travels: the single argument of the job's Celery task."""

    job_class: str
    """The job's ``job_name``; resolved only through the registry."""
    job_id: str
    """UUID4, stable across retries."""
    provider_job_id: str | None
    """The Celery task id of this enqueue."""
    queue_name: str
    priority: int | None
    """Lower runs first; None when the job has no priority."""
    arguments: list[Any]
    """Encoded arguments (see :mod:`activejob_celery.arguments`)."""
    executions: int
    """How many times the job has started, including this lineage's earlier runs."""
    exception_executions: dict[str, int]
    """One counter per ``retry_on`` declaration, keyed ``"[TimeoutError]"``."""
    locale: str | None
    timezone: str | None
    enqueued_at: str | None
    """ISO 8601 UTC with microseconds, written on every serialize."""
    scheduled_at: str | None


_UNSET: Any = object()
_REQUIRED_STRINGS = ("job_class", "job_id", "queue_name")
_OPTIONAL_STRINGS = (
    "provider_job_id",
    "result_id",
    "locale",
    "timezone",
    "enqueued_at",
    "scheduled_at",
)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds: ``2026-11-24T14:06:49.123456Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    elif value.utcoffset():
        value = value.astimezone(timezone.utc)
    # isoformat writes the same text as strftime("%Y-%m-%dT%H:%M:%S.%f") in a fifth of the time
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_second: tuple[int, str] = (-1, "")
"""The last whole second :func:`now_text` wrote, and its text up to the seconds."""


def now_text() -> str:
    """``format_time(datetime.now(timezone.utc))``: the same text, the date written once a second.

    Every enqueue writes it (``enqueued_at``); a bulk of 1 000 jobs mostly within one second.

    Example:
        >>> now_text()[-1], len(now_text())
        ('Z', 27)
    """
    global _second
    now = time.time()
    second = int(now)
    micro = round((now - second) * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    cached = _second  # one read: another thread may write the next second meanwhile
    if cached[0] != second:
        cached = _second = (second, datetime.fromtimestamp(second, timezone.utc).isoformat()[:19])
    return f"{cached[1]}.{micro:06d}Z"


def parse_time(value: str) -> datetime:
    """Parse a payload time; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class JobCore:
    """The state every job carries; :class:`~activejob_celery.ApplicationJob` builds on it."""

    job_name: ClassVar[str]
    _queue_name_source: ClassVar[str | Callable[..., Any] | None] = None
    _priority_source: ClassVar[int | Callable[..., Any] | None] = None

    arguments: list[Any]
    keyword_arguments: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Build a job for ``perform(*args, **kwargs)`` with a fresh ``job_id``."""
        self.arguments = list(args)
        self.keyword_arguments = kwargs
        self.job_id = new_id()
        self.provider_job_id: str | None = None
        self.result_id: str | None = None
        """The task id of the job's first enqueue, carried by its retries (results go there)."""
        self._queue_name: str | None = None
        self._priority: int | None = _UNSET
        self.executions = 0
        self.exception_executions: dict[str, int] = {}
        self.locale: str | None = None
        self.timezone: str | None = current_settings().default_timezone
        self.enqueued_at: datetime | None = None
        self.scheduled_at: datetime | None = None
        self.successfully_enqueued = False
        self.enqueue_error: Exception | None = None
        self.failure_reason: str | None = None
        self._skip_unique = False  # Job.set(unique=False)
        self._timeout: float | None = None  # Job.set(timeout=...), in seconds
        self._after_discard_ran = False
        """Whether ``after_discard`` ran in this run (it runs once; ``perform_now`` resets it)."""
        self._serialized_arguments: list[Any] | None = None
        self._run_task_id: str | None = None
        """The Celery task id of this run in a worker: its ``retry_job`` publishes under it too."""
        self._retrying = False
        self._retried: tuple[datetime | None] | None = None
        """Set by a successful ``retry_job`` in this run: ``(scheduled_at,)`` of the new enqueue."""

    def perform(self, *args: Any, **kwargs: Any) -> Any:
        """The job's work; every concrete job class defines it."""
        raise ConfigurationError(f"{type(self).__qualname__} does not define perform()")

    _status_run: Any = None
    """The status tracker of this run in a worker (:mod:`activejob_celery.status`), else None."""

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report how far ``perform`` got: ``done`` of ``total``, with an optional message.

        In a worker it is written to the job's status (at most once a second; the last value
        always lands) and sent as a ``task-progress`` event; ``progress_state`` keeps it here
        (the test adapter's record). None leaves ``total``/``message`` as they were.

        Raises:
            TypeError: ``done`` or ``total`` is not a number.

        Example:
            >>> job.progress(50, 200, "Parsing")                # doctest: +SKIP
        """
        for name, value in (("done", done), ("total", total)):
            if (value is not None or name == "done") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise TypeError(f"progress {name} must be a number, got {value!r}")
        state = self.__dict__.setdefault("progress_state", {})
        state["done"] = done
        if total is not None:
            state["total"] = total
        if message is not None:
            state["message"] = str(message)
        if self._status_run is not None:
            self._status_run.progress(done, total, message)

    @property
    def queue_name(self) -> str:
        """The queue, evaluated on first read (a dynamic ``queue_as`` sees the arguments)."""
        if self._queue_name is None:
            self._queue_name = resolve_queue_name(self)  # type: ignore[arg-type]
        return self._queue_name

    @queue_name.setter
    def queue_name(self, value: str | None) -> None:
        self._queue_name = None if value is None else queue_name_from_part(value)

    @property
    def priority(self) -> int | None:
        """The priority, evaluated on first read; lower runs first."""
        if self._priority is _UNSET:
            self._priority = resolve_priority(self)  # type: ignore[arg-type]
        return self._priority

    @priority.setter
    def priority(self, value: int | None) -> None:
        self._priority = None if value is None else int(value)

    def serialize(self) -> JobPayload:
        """The payload in the Rails 8.1 key order; ``enqueued_at`` is now.

        Example:
            >>> GuestsCleanupJob(42).serialize()["arguments"]   # doctest: +SKIP
            [42]
        """
        scheduled_at = self.scheduled_at
        payload: JobPayload = {
            "job_class": self.job_name,
            "job_id": self.job_id,
            "provider_job_id": self.provider_job_id,
            "queue_name": self.queue_name,
            "priority": self.priority,
            "arguments": self.serialized_arguments(),
            "executions": self.executions,
            "exception_executions": dict(self.exception_executions),
            "locale": self.locale or current_settings().default_locale,
            "timezone": self.timezone,
            "enqueued_at": now_text(),
            "scheduled_at": None if scheduled_at is None else format_time(scheduled_at),
        }
        if self.result_id is not None:
            # Only a retry carries it (where the result goes); first payloads keep Rails' keys.
            cast("dict[str, Any]", payload)["result_id"] = self.result_id
        if self._skip_unique:  # Job.set(unique=False): the worker's while_executing check too
            cast("dict[str, Any]", payload)["unique"] = False
        if self._timeout is not None:  # Job.set(timeout=...): the worker's limits for this run
            cast("dict[str, Any]", payload)["timeout"] = self._timeout
        return payload

    def serialized_arguments(self) -> list[Any]:
        """The encoded arguments; undecoded payload arguments are passed on untouched."""
        if self._serialized_arguments is not None:
            return self._serialized_arguments
        return serialize_arguments(self.arguments, self.keyword_arguments)

    def load_payload(self, payload: JobPayload, *, validated: bool = False) -> None:
        """Take every field from ``payload``; arguments stay encoded until ``decode_arguments``.

        ``validated=True`` skips the shape check for a payload that already passed
        :func:`validate_payload`.
        """
        if not validated:
            validate_payload(payload)
        self.job_id = payload["job_id"]
        self.provider_job_id = payload.get("provider_job_id")
        self.result_id = cast("dict[str, Any]", payload).get("result_id")
        self._skip_unique = cast("dict[str, Any]", payload).get("unique") is False
        self._timeout = cast("dict[str, Any]", payload).get("timeout")
        self._queue_name = payload["queue_name"]
        self._priority = payload.get("priority")
        self.arguments = []
        self.keyword_arguments = {}
        self._serialized_arguments = payload["arguments"]
        self.executions = payload.get("executions", 0)
        self.exception_executions = dict(payload.get("exception_executions") or {})
        self.locale = payload.get("locale") or current_settings().default_locale
        self.timezone = payload.get("timezone") or current_settings().default_timezone
        enqueued_at, scheduled_at = payload.get("enqueued_at"), payload.get("scheduled_at")
        self.enqueued_at = parse_time(enqueued_at) if enqueued_at else None
        self.scheduled_at = parse_time(scheduled_at) if scheduled_at else None

    def decode_arguments(self) -> None:
        """Decode payload arguments (once); raises DeserializationError."""
        encoded = self._serialized_arguments
        if encoded is not None:
            self.arguments, self.keyword_arguments = deserialize_arguments(encoded)
            self._serialized_arguments = None


def validate_payload(payload: object) -> None:
    """Check the shape and types of a payload; raises MalformedPayloadError naming the field."""
    if not isinstance(payload, dict):
        raise MalformedPayloadError(f"expected a JSON object, got {type(payload).__name__}")
    for key in _REQUIRED_STRINGS:
        if not isinstance(payload.get(key), str):
            raise MalformedPayloadError(f"{key!r} must be a string")
    for key in _OPTIONAL_STRINGS:
        if not isinstance(payload.get(key), str | None):
            raise MalformedPayloadError(f"{key!r} must be a string or null")
    for key in ("enqueued_at", "scheduled_at"):
        if payload.get(key) is not None:
            try:
                parse_time(payload[key])
            except ValueError:
                raise MalformedPayloadError(f"{key!r} is not an ISO 8601 time") from None
    priority = payload.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise MalformedPayloadError("'priority' must be an integer or null")
    timeout = payload.get("timeout")
    if timeout is not None and not is_seconds(timeout):
        raise MalformedPayloadError("'timeout' must be a positive number of seconds or null")
    if not isinstance(payload.get("arguments"), list):
        raise MalformedPayloadError("'arguments' must be a list")
    executions = payload.get("executions", 0)
    if isinstance(executions, bool) or not isinstance(executions, int) or executions < 0:
        raise MalformedPayloadError("'executions' must be a non-negative integer")
    counters = payload.get("exception_executions") or {}
    if not isinstance(counters, dict) or not all(
        isinstance(key, str) and isinstance(value, int) and not isinstance(value, bool)
        for key, value in counters.items()
    ):
        raise MalformedPayloadError("'exception_executions' must map strings to integers")
