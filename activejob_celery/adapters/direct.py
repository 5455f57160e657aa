"""Direct publishing on Redis: job messages pushed straight onto kombu's lists, in pipelines.

Celery's publish path (message building, routing, a new Redis client per publish) costs most of
an enqueue. Here Celery builds one real message per task, queue and priority (through
:class:`~activejob_celery.scheduler.capture.MessageBuilder`, so the list key, envelope, headers
and queue declaration are Celery's and kombu's own), and every later job of that kind is a copy
with its own id, arguments and body, pushed with one held Redis client; ``perform_all_later``
pushes 1 000 per round trip inside MULTI/EXEC. A consumer cannot tell the copies from messages
Celery published. Celery's ``before_task_publish``/``after_task_publish`` signals do not fire
for copies, so as soon as anything listens to them every job goes through Celery again.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from typing import TYPE_CHECKING, Any

from celery.signals import after_task_publish, before_task_publish

if TYPE_CHECKING:
    import redis

    from ..base import ApplicationJob
    from ..scheduler.capture import MessageBuilder
    from .celery import CeleryAdapter, Outgoing

TemplateKey = tuple[str, str, int | None]


_VARYING = ("body", "id", "root_id", "parent_id", "argsrepr", "kwargsrepr", "correlation_id",
            "delivery_tag", "properties_argsrepr", "properties_kwargsrepr")  # fmt: skip
_PROPERTY_REPRS = ("argsrepr", "kwargsrepr")
"""Celery also copies these two into the message properties; each copy gets its own slot."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Template:
    """A message Celery built, rendered once, with slots for what differs from job to job."""

    key: bytes
    pieces: tuple[str, ...]
    """JSON text between the slots; ``slots[n]`` goes between ``pieces[n]`` and ``pieces[n+1]``."""
    slots: tuple[str, ...]
    embed_json: str

    @classmethod
    def parse(cls, key: bytes, raw: bytes) -> _Template | None:
        envelope = json.loads(raw)
        headers, properties = envelope.get("headers") or {}, envelope.get("properties") or {}
        if (
            properties.get("body_encoding") != "base64"
            or envelope.get("content-type") != "application/json"
            or headers.get("eta") is not None
            or headers.get("expires") is not None
            or not {"id", "root_id", "parent_id", "argsrepr", "kwargsrepr"} <= headers.keys()
        ):
            return None  # not a plain immediate JSON message: keep publishing through Celery
        _args, _kwargs, embed = json.loads(base64.b64decode(envelope["body"]))
        # Render the envelope once with a marker in each varying field, then cut it at the
        # markers: a job's message is the pieces joined with its own encoded values.
        marks = {name: f"\x00{name}\x00" for name in _VARYING}
        envelope["body"] = marks["body"]
        for name in ("id", "root_id", "parent_id", "argsrepr", "kwargsrepr"):
            headers[name] = marks[name]
        properties["correlation_id"] = marks["correlation_id"]
        properties["delivery_tag"] = marks["delivery_tag"]
        for name in _PROPERTY_REPRS:
            if name in properties:
                properties[name] = marks[f"properties_{name}"]
        text = json.dumps(envelope)
        encoded = {json.dumps(mark): name for name, mark in marks.items()}
        found = sorted((text.index(mark), mark) for mark in encoded if mark in text)
        pieces, slots, start = [], [], 0
        for position, mark in found:
            pieces.append(text[start:position])
            slots.append(encoded[mark])
            start = position + len(mark)
        pieces.append(text[start:])
        return cls(key, tuple(pieces), tuple(slots), json.dumps(embed))

    def stamp(self, outgoing: Outgoing, lineage: dict[str, Any]) -> bytes:
        task_id = outgoing.task_id
        body = f"[[{json.dumps(outgoing.payload)}], {{}}, {self.embed_json}]".encode()
        values = {
            "body": base64.b64encode(body).decode(),
            "id": task_id,
            "root_id": lineage.get("root_id", task_id),
            "parent_id": lineage.get("parent_id"),
            "argsrepr": outgoing.reprs["argsrepr"],
            "kwargsrepr": outgoing.reprs["kwargsrepr"],
            "correlation_id": task_id,
            "delivery_tag": str(uuid.uuid4()),
            "properties_argsrepr": outgoing.reprs["argsrepr"],
            "properties_kwargsrepr": outgoing.reprs["kwargsrepr"],
        }
        parts = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            parts.append(json.dumps(values[slot]))
            parts.append(piece)
        return "".join(parts).encode()


class DirectPublisher:
    """Publishes jobs onto the broker's Redis lists without Celery's per-message publish path.

    Example:
        >>> adapter.direct                                     # doctest: +SKIP
        <DirectPublisher 3 templates>
    """

    def __init__(
        self, adapter: CeleryAdapter, builder: MessageBuilder, client: redis.Redis
    ) -> None:
        self.adapter = adapter
        self.builder = builder
        self.client = client
        self._templates: dict[TemplateKey, _Template | None] = {}

    def usable(self) -> bool:
        """False while anything listens to Celery's publish signals (they must see every job)."""
        return not (
            before_task_publish.receivers
            or after_task_publish.receivers
            or self.adapter.app.conf.task_inherit_parent_priority
        )

    def publish(self, job: ApplicationJob) -> None:
        """Push one job; broker errors propagate (the adapter turns them into EnqueueError)."""
        push = self._push_for(job)
        if push is not None:
            self.client.lpush(*push)

    def publish_many(self, jobs: list[ApplicationJob]) -> None:
        """Push jobs atomically in one MULTI/EXEC round trip: all of them are queued, or none."""
        with self.client.pipeline(transaction=True) as pipe:
            for job in jobs:
                push = self._push_for(job)
                if push is not None:
                    pipe.lpush(*push)
            pipe.execute()

    def _push_for(self, job: ApplicationJob) -> tuple[bytes, bytes] | None:
        outgoing = self.adapter.prepare(job)
        key: TemplateKey = (job.job_name, job.queue_name, outgoing.priority)
        template = self._templates.get(key)
        if template is not None:
            return template.key, template.stamp(outgoing, self._lineage())
        pushes = self.builder.build(
            lambda producer: self.adapter.send_prepared(job, outgoing, producer=producer)
        )
        if len(pushes) != 1:
            # Routed to no queue or to several: let Celery publish it, and every one like it.
            self._templates[key] = None
            self.adapter.send_prepared(job, outgoing)
            return None
        [(list_key, raw)] = pushes
        if key not in self._templates:
            self._templates[key] = _Template.parse(list_key, raw)
        return list_key, raw

    def _lineage(self) -> dict[str, Any]:
        # As Celery's send_task does: a job enqueued by a running task is its child.
        parent = self.adapter.app.current_worker_task
        if not parent:
            return {}
        request = parent.request
        return {"root_id": request.root_id or request.id, "parent_id": request.id}

    def __repr__(self) -> str:
        return f"<DirectPublisher {len(self._templates)} templates>"
