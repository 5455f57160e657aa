"""Canvas: ``Job.s(...)`` and ``Job.si(...)`` signatures, built into a fresh payload at run time.

A job's Celery task takes one argument, the job payload. A signature of a job carries a *call*
instead: ``{"_aj_call": job_name, "args": [...], "kwargs": [...]}`` with the arguments encoded
by the job's argument serializers. Celery adds a parent task's result to a partial signature's
positional arguments (``Job.s``) as it does for any task: in front of the signature's own
(``Signature.clone`` prepends). The task builds the payload at run time: the values Celery
added (already JSON, decoded by the same serializers), the call's arguments, then the keyword
arguments, with a fresh ``job_id`` and the task id as ``provider_job_id``.

Example:
    >>> from celery import chain                                       # doctest: +SKIP
    >>> chain(FetchJob.s(42), TotalJob.s(), NotifyJob.si("done")).delay()  # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from celery import signature

from .adapters import celery_app
from .arguments import KWARGS_KEY, serialize_arguments
from .errors import MalformedPayloadError
from .queue_priority import celery_priority

if TYPE_CHECKING:
    from celery.canvas import Signature

    from .base import ApplicationJob
    from .core import JobPayload

CALL_KEY = "_aj_call"

# Message options a canvas run passes on to the message of its retry, so that the rest of the
# canvas (chain, link callbacks, chord) waits for the job's final run, as Celery's own retry does.
_CANVAS_OPTIONS = ("chain", "callbacks", "errbacks", "chord", "group", "group_index")
_SEND_NAMES = {"callbacks": "link", "errbacks": "link_error", "group": "group_id"}
_retry_options: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "activejob_celery_canvas_retry_options", default=None
)


def job_signature(
    job_class: type[ApplicationJob],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    immutable: bool,
) -> Signature:
    """The Celery signature of a run of ``job_class`` with ``args``/``kwargs``.

    The job's queue and priority (``queue_as``, ``queue_with_priority``) become the signature's
    options; ``sig.set(queue=...)`` changes them as for any signature.

    Example:
        >>> sig = job_signature(TotalJob, (1, 2), {}, immutable=False)   # doctest: +SKIP
        >>> sig.args                                                      # doctest: +SKIP
        ({'_aj_call': 'jobs.TotalJob', 'args': [1, 2], 'kwargs': []},)
    """
    job = job_class(*args, **kwargs)  # resolves a dynamic queue_as with the real arguments
    call = {
        CALL_KEY: job_class.job_name,
        "args": serialize_arguments(args, {}),
        "kwargs": serialize_arguments((), kwargs),
    }
    app = celery_app()
    options: dict[str, Any] = {"queue": job.queue_name}
    priority = celery_priority(job.priority, app, job.queue_name)
    if priority is not None:
        options["priority"] = priority
    return signature(
        job_class.job_name, args=(call,), kwargs={}, options=options, immutable=immutable, app=app
    )


def is_call(args: tuple[Any, ...] | list[Any]) -> bool:
    """Whether a job task's arguments are a signature's call (plus values Celery added).

    Example:
        >>> is_call((3, {"_aj_call": "jobs.TotalJob", "args": [], "kwargs": []}))
        True
    """
    return any(isinstance(arg, dict) and CALL_KEY in arg for arg in args)


def payload_from_call(
    job_class: type[ApplicationJob],
    args: tuple[Any, ...] | list[Any],
    kwargs: dict[str, Any],
    *,
    task_id: str | None,
    queue: str | None,
) -> JobPayload:
    """The payload of one run of a signature, with a fresh ``job_id``.

    Its arguments are the values Celery put before the call (a parent's result, as Celery
    passes it to a partial signature: first), the call's own, any after it, then keywords.

    Raises:
        MalformedPayloadError: the call names another job or its arguments have the wrong shape.

    Example:
        >>> payload_from_call(TotalJob, (5, call), {}, task_id="t1", queue=None)  # doctest: +SKIP
    """
    where = [i for i, arg in enumerate(args) if isinstance(arg, dict) and CALL_KEY in arg]
    if len(where) != 1:
        raise MalformedPayloadError(f"a job task got {len(where)} signature calls; expected one")
    call = args[where[0]]
    given, appended = list(args[: where[0]]), list(args[where[0] + 1 :])
    if call.get(CALL_KEY) != job_class.job_name:
        raise MalformedPayloadError(
            f"a signature of {call.get(CALL_KEY)!r} reached the task of {job_class.job_name!r}"
        )
    positional, keywords = call.get("args"), call.get("kwargs")
    if not isinstance(positional, list) or not isinstance(keywords, list) or len(keywords) > 1:
        raise MalformedPayloadError("a job signature's 'args' and 'kwargs' must be lists")
    encoded_kwargs: dict[str, Any] = dict(keywords[0]) if keywords else {}
    if kwargs:  # keyword arguments given to the signature later (sig.delay(x=1)): plain JSON
        extra = serialize_arguments((), kwargs)[0]
        names = list(encoded_kwargs.get(KWARGS_KEY, [])) + list(extra[KWARGS_KEY])
        encoded_kwargs.update(extra)
        encoded_kwargs[KWARGS_KEY] = list(dict.fromkeys(names))
    job = job_class()
    job.provider_job_id = task_id
    if queue:
        job.queue_name = queue
    payload = job.serialize()
    payload["job_id"] = str(uuid.uuid4())
    payload["arguments"] = (
        given + positional + appended + ([encoded_kwargs] if encoded_kwargs else [])
    )
    return payload


def canvas_options(request: Any) -> dict[str, Any]:
    """The canvas links of a running task's request (empty outside a canvas).

    Example:
        >>> canvas_options(task.request)                                 # doctest: +SKIP
        {'chain': [...]}
    """
    if request is None or getattr(request, "is_eager", False):
        return {}
    found = {}
    for name in _CANVAS_OPTIONS:
        value = getattr(request, name, None)
        if value:
            found[name] = value
    return found


@contextmanager
def retrying_within(options: dict[str, Any]) -> Iterator[None]:
    """While a canvas run runs, a retry it publishes carries the run's canvas links.

    Example:
        >>> with retrying_within(canvas_options(task.request)):         # doctest: +SKIP
        ...     run_payload(payload, task=task)
    """
    token = _retry_options.set(options or None)
    try:
        yield
    finally:
        _retry_options.reset(token)


def retry_send_options() -> dict[str, Any]:
    """``send_task`` options for a retry published inside a canvas run (else empty).

    Example:
        >>> retry_send_options()
        {}
    """
    options = _retry_options.get()
    if not options:
        return {}
    return {_SEND_NAMES.get(name, name): value for name, value in options.items()}
