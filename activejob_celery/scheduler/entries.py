"""Scheduled-set entries: the formats the Lua scripts and Python share, and their decoded view.

A member of the sorted set is ``"<job_id>/<provider_job_id>"``; its value in the entries hash is one
of two kinds, told apart by the first byte:

* ``D`` (direct): the ready-made broker messages kombu's Redis transport would push, each as
  ``<len>:<list key><len>:<message>``. The release script pushes them onto the lists as they are.
* ``E`` (envelope): JSON ``{"task", "id", "queue", "priority", "argsrepr", "kwargsrepr",
  "payload"}``, published through Celery by the poller (brokers that are not this database).

Either may be wrapped in a ``G`` (gated) value, ``G<len>:<gate><len>:<parked><D or E value>``,
for a job with ``limits_concurrency``: the release script takes the job's slot as it becomes
due (``gate`` is JSON: ``key``, ``job_id``, ``to``, ``duration``, ``limit``, ``priority``), or
parks ``parked`` (JSON ``{"payload": ...}``) among the key's blocked jobs when it is full.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kombu.compression import decompress as kombu_decompress

# kombu's own codecs (the ones that compressed the message); typed here.
_decompress: Callable[[bytes, str], bytes] = kombu_decompress

DIRECT = b"D"
ENVELOPE = b"E"
GATED = b"G"


def member_for(job_id: str, provider_job_id: str) -> str:
    """The sorted-set member of one scheduled enqueue of ``job_id``."""
    return f"{job_id}/{provider_job_id}"


def split_member(member: str) -> tuple[str, str]:
    """``(job_id, provider_job_id)`` of a member (the provider id never contains ``/``)."""
    job_id, _, provider_job_id = member.rpartition("/")
    return job_id, provider_job_id


def encode_direct(pushes: list[tuple[bytes, bytes]]) -> bytes:
    """A ``D`` value: each ``(list key, message)`` with byte-length prefixes."""
    parts = [DIRECT]
    for key, message in pushes:
        parts += [b"%d:" % len(key), key, b"%d:" % len(message), message]
    return b"".join(parts)


def decode_direct(value: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(list key, message)`` pairs of a ``D`` value; ValueError if it is malformed."""
    pushes: list[tuple[bytes, bytes]] = []
    position = 1
    while position < len(value):
        fields = []
        for _ in range(2):
            colon = value.index(b":", position)
            length = int(value[position:colon])
            start, position = colon + 1, colon + 1 + length
            if position > len(value):
                raise ValueError("truncated scheduled entry")
            fields.append(value[start:position])
        pushes.append((fields[0], fields[1]))
    if not pushes or value[:1] != DIRECT:
        raise ValueError("empty or unknown scheduled entry")
    return pushes


def encode_envelope(
    task: str,
    task_id: str,
    queue: str,
    priority: int | None,
    payload: Any,
    reprs: dict[str, str] | None = None,
) -> bytes:
    """An ``E`` value: what the poller needs to publish the job through Celery."""
    envelope = {"task": task, "id": task_id, "queue": queue, "priority": priority}
    envelope.update(reprs or {})
    envelope["payload"] = payload
    return ENVELOPE + json.dumps(envelope, separators=(",", ":")).encode()


def encode_gated(gate: dict[str, Any], parked: dict[str, Any], value: bytes) -> bytes:
    """A ``G`` value: the slot to take when due (``gate``), what to park if none is free, ``value``.

    Example:
        >>> encode_gated({"key": "K"}, {"payload": {}}, b"E{}")
        b'G11:{"key":"K"}14:{"payload":{}}E{}'
    """
    spec = json.dumps(gate, separators=(",", ":")).encode()
    blocked = json.dumps(parked, separators=(",", ":")).encode()
    return b"".join([GATED, b"%d:" % len(spec), spec, b"%d:" % len(blocked), blocked, value])


def ungated(value: bytes) -> bytes:
    """The ``D`` or ``E`` value inside a ``G`` value (any other value as it is); ValueError."""
    if value[:1] != GATED:
        return value
    position = 1
    for _ in range(2):
        colon = value.index(b":", position)
        position = colon + 1 + int(value[position:colon])
        if position > len(value):
            raise ValueError("truncated gated scheduled entry")
    return value[position:]


def decode_value(value: bytes) -> dict[str, Any]:
    """Either kind of value as an envelope dict (``task``, ``id``, ``queue``, ``priority``, ...).

    A direct value also gives ``exchange`` and ``routing_key`` from its first message.

    Raises:
        ValueError: the value is not a scheduled entry this version wrote.
    """
    value = ungated(value)
    if value[:1] == ENVELOPE:
        envelope = json.loads(value[1:])
        if not isinstance(envelope, dict) or not {"task", "id", "payload"} <= set(envelope):
            raise ValueError("scheduled envelope lacks task, id or payload")
        return envelope
    _key, raw = decode_direct(value)[0]
    message = json.loads(raw)
    headers, properties = message["headers"], message["properties"]
    body = message["body"]
    if properties.get("body_encoding") == "base64":
        body = base64.b64decode(body)
    if headers.get("compression"):  # task_compression: kombu names its codec in this header
        body = _decompress(body, headers["compression"])
    args, _kwargs, _embed = json.loads(body)
    info = properties.get("delivery_info") or {}
    return {
        "task": headers["task"],
        "id": headers["id"],
        "queue": info.get("routing_key"),
        "exchange": info.get("exchange") or "",
        "routing_key": info.get("routing_key"),
        "priority": properties.get("priority"),
        "argsrepr": headers.get("argsrepr"),
        "kwargsrepr": headers.get("kwargsrepr"),
        "payload": args[0] if len(args) == 1 else {"args": args},
    }


@dataclasses.dataclass(frozen=True)
class ScheduledJob:
    """One job waiting in the scheduled set, as the inspection API shows it.

    Example:
        >>> job = scheduled_set_for(app).get(job_id)           # doctest: +SKIP
        >>> job.job_class, job.queue_name, job.run_at          # doctest: +SKIP
        ('shop.jobs.GuestsCleanupJob', 'default', datetime(...))
    """

    job_id: str
    provider_job_id: str
    job_class: str
    queue_name: str
    priority: int | None
    run_at: datetime
    arguments: list[Any]
    executions: int
    payload: dict[str, Any]
    claimed: bool = False
    """True while a poller holds it (publishing it); False while it waits for its time."""

    @classmethod
    def decode(
        cls, member: str, value: bytes, score: float, *, claimed: bool = False
    ) -> ScheduledJob:
        """Build the view of one entry (``ValueError`` for a malformed one)."""
        envelope = decode_value(value)
        payload = envelope["payload"] if isinstance(envelope["payload"], dict) else {}
        job_id, provider_job_id = split_member(member)
        return cls(
            job_id=job_id,
            provider_job_id=provider_job_id,
            job_class=str(payload.get("job_class", envelope["task"])),
            queue_name=str(payload.get("queue_name", envelope.get("queue") or "")),
            priority=payload.get("priority"),
            run_at=datetime.fromtimestamp(score, timezone.utc),
            arguments=list(payload.get("arguments") or []),
            executions=int(payload.get("executions") or 0),
            payload=payload,
            claimed=claimed,
        )

    @property
    def class_name(self) -> str:
        """The bare class name: the last part of ``job_class``."""
        return self.job_class.rsplit(".", 1)[-1]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``run_at`` as ISO 8601), as ``jobs scheduled list --json`` prints."""
        data = dataclasses.asdict(self)
        data["run_at"] = self.run_at.isoformat()
        return data
