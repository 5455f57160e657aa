"""Helpers for the dead-letter tests: raw kombu messages on Redis, job payloads, settling."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable
from typing import Any

from activejob_celery import ApplicationJob
from activejob_celery.core import format_time
from activejob_celery.dead_letters.record import now
from tests.support.worker import wait_for

EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def job_payload(job_class: str, *arguments: Any, **changes: Any) -> dict[str, Any]:
    """A valid Rails-shaped payload for ``job_class`` (its job_name), with fresh ids."""
    payload = {
        "job_class": job_class,
        "job_id": str(uuid.uuid4()),
        "provider_job_id": str(uuid.uuid4()),
        "queue_name": "default",
        "priority": None,
        "arguments": list(arguments),
        "executions": 0,
        "exception_executions": {},
        "locale": "en",
        "timezone": "UTC",
        "enqueued_at": format_time(now()),
        "scheduled_at": None,
    }
    payload.update(changes)
    return payload


def task_body(*args: Any, kwargs: dict[str, Any] | None = None) -> bytes:
    """A Celery protocol 2 body: ``[args, kwargs, embed]`` as JSON bytes."""
    return json.dumps([list(args), kwargs or {}, EMBED]).encode()


class RawQueue:
    """Pushes hand-made messages onto a queue's Redis list, the way kombu's producer does."""

    def __init__(self, app: Any, client: Any, queue: str = "default") -> None:
        self.client = client
        self.queue = queue
        self.template = self._template(app)

    def _template(self, app: Any) -> dict[str, Any]:
        # A real message, published to a scratch queue and popped, is the envelope to copy.
        app.send_task("aj.template", args=(1,), queue="aj-template")
        raw = self.client.rpop("aj-template")
        assert raw is not None, "the template message was not published"
        return json.loads(raw)

    def envelope(
        self,
        body: bytes | None,
        *,
        task: str | None,
        content_type: str = "application/json",
        headers: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message envelope with fresh ids around ``body`` (None leaves the body out)."""
        message = copy.deepcopy(self.template)
        task_id = str(uuid.uuid4())
        message["headers"].update(id=task_id, root_id=task_id, task=task, argsrepr="", origin="t")
        if task is None:
            del message["headers"]["task"]
        if headers is not None:
            message["headers"] = headers
        message["content-type"] = content_type
        message["properties"]["correlation_id"] = task_id
        message["properties"]["delivery_tag"] = str(uuid.uuid4())
        message["properties"]["delivery_info"]["routing_key"] = self.queue
        if body is None:
            message.pop("body", None)
        else:
            message["body"] = base64.b64encode(body).decode()
        return message

    def push(self, item: dict[str, Any] | bytes | str) -> None:
        """LPUSH one entry: an envelope (as JSON) or raw bytes/text as they are."""
        self.client.lpush(self.queue, json.dumps(item) if isinstance(item, dict) else item)

    def push_body(self, body: bytes | None, *, task: str | None, **options: Any) -> str:
        """Push a message around ``body``; returns its task id."""
        message = self.envelope(body, task=task, **options)
        self.push(message)
        return str(message["headers"].get("id", "")) if isinstance(message["headers"], dict) else ""


def settle(
    marker_job: type[ApplicationJob], seen: Callable[[], list[Any]], timeout: float = 20
) -> None:
    """Enqueue a marker job behind everything sent so far and wait until it has run.

    The worker is solo with prefetch 1, so once the marker ran every earlier message on the
    queue has been handled.
    """
    job = marker_job.perform_later()
    wait_for(lambda: job.job_id in seen(), timeout=timeout, message="the marker job to run")
