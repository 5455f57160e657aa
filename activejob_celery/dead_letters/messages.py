"""Broker messages that never became a job run: checking their bodies and recording them raw."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ..core import validate_payload
from ..errors import MalformedPayloadError, UnknownJobClassError
from .record import (
    DeadLetter,
    as_int,
    as_str,
    error_class_name,
    error_message,
    format_traceback,
    now,
    raw_payload,
)

_LIST_OPTIONS = ("callbacks", "errbacks", "chain")


def message_problem(message: Any, body: Any) -> Exception | None:
    """Why a job task message cannot run, or None: its headers, then its body (see below).

    Celery builds a request from the headers outside any task: an ``id`` that is not a string,
    an empty ``eta`` or a ``timelimit`` that is not a pair would fail there, where no job sees it.
    """
    headers = message.headers if isinstance(message.headers, dict) else {}
    if not isinstance(headers.get("id"), str):
        return MalformedPayloadError("the task message id must be a string")
    timelimit = headers.get("timelimit")
    if timelimit and not (isinstance(timelimit, list | tuple) and len(timelimit) == 2):
        return MalformedPayloadError("the task message timelimit must be [soft, hard]")
    for key in ("eta", "expires"):  # Celery parses strings; an empty value crashes it
        if headers.get(key) is not None and not (isinstance(headers[key], str) and headers[key]):
            return MalformedPayloadError(f"the task message {key} must be an ISO 8601 time")
    for key in ("shadow", "root_id", "parent_id", "group"):
        if headers.get(key) is not None and not isinstance(headers[key], str):
            return MalformedPayloadError(f"the task message {key} must be a string")
    retries = headers.get("retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int)):
        return MalformedPayloadError("the task message retries must be an integer")
    return body_problem(message, body)


def body_problem(message: Any, body: Any) -> Exception | None:
    """Why a job task message cannot run, or None: the body must decode to Celery's task shape.

    Celery decodes message bodies outside the task, so a body that is not JSON, not allowed by
    ``accept_content``, or not ``[args, kwargs, embed]`` would fail where no job sees it.
    ``message.payload`` is cached by kombu, so Celery does not decode the body a second time.
    """
    try:
        decoded = message.payload if body is None else body
    except Exception as error:  # DecodeError, ContentDisallowed, codec errors
        return error
    # Celery's strategy reads a body carrying "args" as protocol 1 (`"args" in payload`, which
    # for a list or a string is a membership test), anything else as [args, kwargs, embed].
    if not isinstance(decoded, dict | list | tuple | str):
        return MalformedPayloadError("a task message body must be [args, kwargs, embed]")
    if isinstance(decoded, dict) and (body is not None or "args" in decoded):
        args, kwargs, embed = decoded.get("args", []), decoded.get("kwargs", {}), None
    elif isinstance(decoded, list | tuple) and len(decoded) == 3 and "args" not in decoded:
        args, kwargs, embed = decoded
    else:
        return MalformedPayloadError("a task message body must be [args, kwargs, embed]")
    if not isinstance(args, list | tuple):
        return MalformedPayloadError("task args must be a list")
    if not isinstance(kwargs, dict):
        return MalformedPayloadError("task kwargs must be an object")
    if embed is not None and not isinstance(embed, dict):
        return MalformedPayloadError("task embed must be an object")
    for key in _LIST_OPTIONS:
        if embed and embed.get(key) is not None and not isinstance(embed[key], list):
            return MalformedPayloadError(f"task embed {key!r} must be a list")
    if embed and embed.get("chord") is not None and not isinstance(embed["chord"], dict):
        return MalformedPayloadError("task embed 'chord' must be an object")
    return None


def letter_for_message(
    message: Any, error: BaseException, *, reason: str, raw_max_bytes: int
) -> DeadLetter:
    """The record for a kombu message that was rejected before any job ran.

    For an unknown task whose body is a valid job payload, the payload is kept whole (it can
    be retried once the job class is deployed); anything else is kept raw and truncated.
    """
    headers = _mapping(getattr(message, "headers", None))
    properties = _mapping(getattr(message, "properties", None))
    delivery = _mapping(getattr(message, "delivery_info", None))
    payload = _job_payload(message) if reason == "unknown_job_class" else None
    fields = payload or {}
    stored: Any = payload
    if payload is None:
        stored = raw_payload(
            getattr(message, "body", None),
            raw_max_bytes,
            content_type=getattr(message, "content_type", None),
            content_encoding=getattr(message, "content_encoding", None),
            task=as_str(headers.get("task")),
            task_id=as_str(headers.get("id")),
        )
    return DeadLetter(
        id=as_str(headers.get("id")) or as_str(properties.get("delivery_tag")) or _new_id(),
        job_id=as_str(fields.get("job_id")),
        job_class=as_str(fields.get("job_class")) or as_str(headers.get("task")),
        queue_name=as_str(fields.get("queue_name")) or as_str(delivery.get("routing_key")),
        payload=stored,
        error_class=error_class_name(error),
        error_message=error_message(error),
        traceback=format_traceback(error),
        reason=reason,
        attempts=as_int(fields.get("executions")),
        failed_at=now(),
    )


def letter_for_raw_item(
    item: bytes | str, queue: str, error: BaseException, *, raw_max_bytes: int
) -> DeadLetter:
    """The record for a queue entry that is not even a kombu message (not a JSON envelope)."""
    return DeadLetter(
        id=_new_id(),
        job_id=None,
        job_class=None,
        queue_name=queue,
        payload=raw_payload(item, raw_max_bytes, envelope=True),
        error_class=error_class_name(error),
        error_message=error_message(error),
        traceback=format_traceback(error),
        reason="malformed_message",
        attempts=0,
        failed_at=now(),
    )


def unknown_task_error(message: Any) -> UnknownJobClassError:
    """The error recorded for a message naming a task this worker does not have."""
    name = _mapping(getattr(message, "headers", None)).get("task")
    return UnknownJobClassError(str(name))


def _job_payload(message: Any) -> dict[str, Any] | None:
    try:
        decoded = message.payload
        args, kwargs, _embed = decoded
    except Exception:  # not a job message: kept raw instead
        return None
    if not isinstance(args, list | tuple) or len(args) != 1 or kwargs:
        return None
    try:
        validate_payload(args[0])
    except MalformedPayloadError:
        return None
    return dict(args[0])


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _new_id() -> str:
    return str(uuid.uuid4())
