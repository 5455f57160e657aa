"""The dead-letter record: what failed, why, when, and the payload needed to run it again."""

from __future__ import annotations

import base64
import dataclasses
import json
import traceback as traceback_module
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..core import format_time, parse_time, validate_payload
from ..errors import ActiveJobError, MalformedPayloadError

MAX_ERROR_MESSAGE = 8 * 1024
"""Characters kept of an error message (a message can repr a huge argument)."""
MAX_TRACEBACK = 32 * 1024
"""Characters kept of a traceback: its tail, where the raising frame is."""
FIELDS = (
    "id",
    "job_id",
    "job_class",
    "queue_name",
    "payload",
    "error_class",
    "error_message",
    "traceback",
    "reason",
    "attempts",
    "failed_at",
)
"""Every field of a record, in the order ``dead list --json`` prints them."""


class DeadLetterError(ActiveJobError):
    """An operation on the dead-letter store cannot be done.

    Example:
        >>> isinstance(DeadLetterNotFoundError("abc"), LookupError)
        True
    """


class DeadLetterNotFoundError(DeadLetterError, LookupError):
    """No record has this id (or no record starts with this prefix).

    Example:
        >>> str(DeadLetterNotFoundError("4f2a"))
        "No dead letter with id '4f2a'"
    """

    def __init__(self, letter_id: str, detail: str = "") -> None:
        self.letter_id = letter_id
        super().__init__(f"No dead letter with id {letter_id!r}{detail}")


class NotRetryableError(DeadLetterError, ValueError):
    """The record holds no valid job payload (a malformed message), so it cannot run again.

    Example:
        >>> str(NotRetryableError("4f2a", "it was never a job"))
        'Dead letter 4f2a cannot be retried: it was never a job'
    """

    def __init__(self, letter_id: str, why: str) -> None:
        self.letter_id = letter_id
        super().__init__(f"Dead letter {letter_id} cannot be retried: {why}")


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """One job (or message) that failed for good, as kept in the dead-letter store.

    ``payload`` is the job payload as received, so the job can run again. For a message that was
    never a job (reason ``malformed_message``) it is a description of the raw message instead:
    ``{"raw": ..., "raw_encoding": "utf-8" | "base64", "raw_size": ..., "truncated": ...}``.

    Example:
        >>> letter = store.get("7c0e9d6b…")                      # doctest: +SKIP
        >>> letter.reason, letter.error_class, letter.attempts
        ('exhausted', 'TimeoutError', 3)
    """

    id: str
    job_id: str | None
    job_class: str | None
    queue_name: str | None
    payload: Any
    error_class: str
    error_message: str
    traceback: str | None
    reason: str
    attempts: int
    failed_at: datetime

    @property
    def retryable(self) -> bool:
        """Whether the payload is a job payload that can be enqueued again."""
        return retry_problem(self) is None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (``failed_at`` in ISO 8601 UTC).

        Example:
            >>> json.dumps(letter.to_dict())                      # doctest: +SKIP
        """
        data = dataclasses.asdict(self)
        data["failed_at"] = format_time(self.failed_at)
        return {name: data[name] for name in FIELDS}

    def summary(self) -> dict[str, Any]:
        """The record without ``payload`` and ``traceback``: what listing and filtering need."""
        data = self.to_dict()
        del data["payload"], data["traceback"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeadLetter:
        """Rebuild a record from :meth:`to_dict` output.

        Example:
            >>> DeadLetter.from_dict(letter.to_dict()) == letter  # doctest: +SKIP
            True
        """
        values: dict[str, Any] = {name: data.get(name) for name in FIELDS}
        values["failed_at"] = parse_time(str(data["failed_at"]))
        values["attempts"] = int(data.get("attempts") or 0)
        return cls(**values)


def retry_problem(letter: DeadLetter) -> str | None:
    """Why ``letter`` cannot be retried, or None when it can."""
    if letter.reason == "malformed_message":
        return "it is a malformed message, not a job payload"
    try:
        validate_payload(letter.payload)
    except MalformedPayloadError as error:
        return str(error)
    return None


def error_class_name(error: BaseException) -> str:
    """``TimeoutError`` for built-ins, ``module.QualName`` for everything else."""
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def error_message(error: BaseException) -> str:
    """``str(error)``, bounded; never raises (a broken ``__str__`` yields its repr)."""
    try:
        text = str(error)
    except Exception:  # a user exception's __str__ must not stop the record
        text = object.__repr__(error)
    return text if len(text) <= MAX_ERROR_MESSAGE else text[:MAX_ERROR_MESSAGE] + "…"


def format_traceback(error: BaseException) -> str | None:
    """The formatted traceback of ``error`` (with its causes), bounded to its tail."""
    try:
        text = "".join(traceback_module.format_exception(type(error), error, error.__traceback__))
    except Exception:  # formatting must not stop the record
        return None
    return text if len(text) <= MAX_TRACEBACK else "…" + text[-MAX_TRACEBACK:]


def raw_payload(data: bytes | str | None, limit: int, **context: Any) -> dict[str, Any]:
    """Describe a raw message body: text when it is UTF-8, else base64; at most ``limit`` bytes.

    Example:
        >>> raw_payload(b"not json", 1024)["raw"]
        'not json'
    """
    if data is None:
        data = b""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    kept = bytes(data[:limit])
    raw, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    # Text stays readable, even when the cut fell inside a multi-byte character.
    for cut in range(4 if len(data) > limit else 1):
        try:
            raw, encoding = kept[: len(kept) - cut].decode("utf-8"), "utf-8"
            break
        except UnicodeDecodeError:
            continue
    return {
        "raw": raw,
        "raw_encoding": encoding,
        "raw_size": len(data),
        "truncated": len(data) > limit,
        **{key: jsonable(value) for key, value in context.items()},
    }


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (anything JSON cannot hold becomes its ``str``)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        return str(value)


def as_int(value: Any) -> int:
    """A payload counter as an int (0 when it is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_str(value: Any) -> str | None:
    """A payload string field, or None when it is not a string."""
    return value if isinstance(value, str) else None


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(timezone.utc)
