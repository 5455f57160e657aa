"""Queue depths per priority bucket, and the messages of one job still waiting on the broker."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from ..amqp_queues import queue_depths
from ..broker_queues import (
    BUCKETS,
    broker_url,
    bucket_depths,
    configured_queues,
    is_redis_url,
    key_prefix,
    list_key,
    queue_names,
    redis_client,
)
from ..worker.pausing import PausedQueue, paused_queues
from ..worker.state import redis_for

PAUSING_OFF = (
    "Pausing queues needs Redis to remember each pause; set activejob_dead_letters_url "
    "to a Redis URL to pause queues on this broker"
)
SCAN_LIMIT = 1000
"""Messages read per list (and of the unacked hash) when looking for one job."""


@dataclasses.dataclass(frozen=True)
class QueueRow:
    """One queue: messages waiting per priority bucket (empty when the broker cannot say).

    Example:
        >>> [(row.name, row.depth) for row in queue_overview(app).queues]  # doctest: +SKIP
        [('default', 3), ('mailers', 0)]
    """

    name: str
    buckets: tuple[int, ...]
    paused: PausedQueue | None
    total: int | None = None
    """Messages waiting when the broker gives only a total (RabbitMQ), not buckets."""

    @property
    def depth(self) -> int | None:
        """Messages waiting over every bucket (or the broker's total); None when unknown."""
        return sum(self.buckets) if self.buckets else self.total


@dataclasses.dataclass(frozen=True)
class QueueOverview:
    """Every known queue, and how many messages workers hold unacknowledged.

    Example:
        >>> queue_overview(app).unacked                          # doctest: +SKIP
        1
    """

    queues: list[QueueRow]
    unacked: int | None
    pausing_off: str | None = None
    """Why queues cannot be paused here (None when they can): the pause lives in Redis."""
    buckets_known: bool = True
    """Whether depths per priority bucket are known (Redis brokers only)."""


@dataclasses.dataclass(frozen=True)
class QueuedMessage:
    """A job's message on the broker: waiting in a queue, or reserved by a worker.

    Example:
        >>> find_messages(app, job_id)[0].state                  # doctest: +SKIP
        'waiting'
    """

    state: str
    queue: str
    bucket: int | None
    task_id: str | None
    payload: Any


def queue_overview(app: Any) -> QueueOverview:
    """Depth per queue and bucket, with each queue's pause, read from the broker's Redis.

    Example:
        >>> queue_overview(app).queues[0].buckets               # doctest: +SKIP
        (3, 0, 0, 0, 0, 1, 0, 0, 0, 0)
    """
    paused = paused_queues(app)
    broker = broker_url(app) or ""
    buckets: dict[str, tuple[int, ...]] = {}
    unacked: int | None = None
    if is_redis_url(broker):
        with redis_client(app, broker, socket_timeout=10.0) as client:
            prefix = key_prefix(app)
            names = queue_names(app, client, prefix)
            buckets = bucket_depths(client, prefix, names + sorted(set(paused) - set(names)))
            unacked = int(client.hlen(prefix + "unacked"))
        totals: dict[str, int | None] = {}
    else:
        names = configured_queues(app)
        totals = queue_depths(app, names + sorted(set(paused) - set(names)))
    names += [name for name in sorted(paused) if name not in names]
    rows = [
        QueueRow(name, buckets.get(name, ()), paused.get(name), totals.get(name)) for name in names
    ]
    return QueueOverview(
        queues=rows,
        unacked=unacked,
        pausing_off=None if redis_for(app) is not None else PAUSING_OFF,
        buckets_known=is_redis_url(broker),
    )


def find_messages(app: Any, job_id: str, limit: int = SCAN_LIMIT) -> list[QueuedMessage]:
    """Messages for ``job_id`` (or with that Celery task id) waiting or reserved on a Redis broker.

    Reads at most ``limit`` messages of each priority list and of the unacked hash.

    Example:
        >>> [message.queue for message in find_messages(app, job.job_id)]  # doctest: +SKIP
        ['default']
    """
    broker = broker_url(app) or ""
    if not is_redis_url(broker):
        return []
    found: list[QueuedMessage] = []
    prefix = key_prefix(app)
    with redis_client(app, broker, socket_timeout=10.0) as client:
        names = queue_names(app, client, prefix)
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                for bucket in BUCKETS:
                    pipe.lrange(list_key(prefix, name, bucket), -limit, -1)
            lists = pipe.execute()
        for index, raws in enumerate(lists):
            name, bucket = names[index // len(BUCKETS)], BUCKETS[index % len(BUCKETS)]
            for raw in reversed(raws):  # the right end is popped first
                task_id, payload = decode_message(raw)
                if _matches(job_id, task_id, payload):
                    found.append(QueuedMessage("waiting", name, bucket, task_id, payload))
        for _, value in client.hscan_iter(prefix + "unacked", count=limit):
            try:
                raw, _exchange, routing_key = json.loads(value)
            except (ValueError, TypeError):
                continue
            task_id, payload = decode_message(json.dumps(raw))
            if _matches(job_id, task_id, payload):
                found.append(QueuedMessage("reserved", str(routing_key), None, task_id, payload))
    return found


def decode_message(raw: bytes | str) -> tuple[str | None, Any]:
    """``(task id, job payload)`` of one kombu message as stored on Redis (None, None if odd).

    Example:
        >>> decode_message(client.lindex("default", -1))        # doctest: +SKIP
        ('5c8a…', {'job_class': 'shop.jobs.GuestsCleanupJob', ...})
    """
    try:
        message = json.loads(raw)
        headers, properties = message.get("headers") or {}, message.get("properties") or {}
        body: Any = message.get("body")
        if properties.get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0] if message.get("content-type") == "application/json" else []
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None, None
    task_id = headers.get("id")
    payload = args[0] if isinstance(args, list) and len(args) == 1 else None
    return (task_id if isinstance(task_id, str) else None), payload


def _matches(job_id: str, task_id: str | None, payload: Any) -> bool:
    return task_id == job_id or (isinstance(payload, dict) and payload.get("job_id") == job_id)
