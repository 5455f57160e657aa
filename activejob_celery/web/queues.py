"""Queue depths per priority bucket, and the messages of one job still waiting on the broker."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from ..cli.stats import SEP, _broker_url, _configured_queues, _queue_names
from .pausing import PausedQueue, paused_queues
from .state import REDIS_SCHEMES

BUCKETS = tuple(range(10))
"""kombu's priority steps on Redis as ``init_app`` sets them: 0 runs first, 9 last."""
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

    @property
    def depth(self) -> int | None:
        """Messages waiting over every bucket; None when the broker is not Redis."""
        return sum(self.buckets) if self.buckets else None


@dataclasses.dataclass(frozen=True)
class QueueOverview:
    """Every known queue, and how many messages workers hold unacknowledged.

    Example:
        >>> queue_overview(app).unacked                          # doctest: +SKIP
        1
    """

    queues: list[QueueRow]
    unacked: int | None


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
    broker = _broker_url(app)
    buckets: dict[str, tuple[int, ...]] = {}
    unacked: int | None = None
    if _is_redis(broker):
        with _broker_client(broker) as client:
            prefix = _key_prefix(app)
            names = _queue_names(app, client, prefix)
            buckets = bucket_depths(client, prefix, names + sorted(set(paused) - set(names)))
            unacked = int(client.hlen(prefix + "unacked"))
    else:
        names = _configured_queues(app)
    names += [name for name in sorted(paused) if name not in names]
    rows = [QueueRow(name, buckets.get(name, ()), paused.get(name)) for name in names]
    return QueueOverview(queues=rows, unacked=unacked)


def bucket_depths(client: Any, prefix: str, names: list[str]) -> dict[str, tuple[int, ...]]:
    """``LLEN`` of each queue's priority lists, in one pipeline (see ``jobs stats``).

    Example:
        >>> bucket_depths(client, "", ["default"])              # doctest: +SKIP
        {'default': (2, 0, 0, 0, 0, 0, 0, 0, 0, 0)}
    """
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for bucket in BUCKETS:
                pipe.llen(_list_key(prefix, name, bucket))
        sizes = [int(size) for size in pipe.execute()]
    width = len(BUCKETS)
    return {
        name: tuple(sizes[index * width : (index + 1) * width]) for index, name in enumerate(names)
    }


def find_messages(app: Any, job_id: str, limit: int = SCAN_LIMIT) -> list[QueuedMessage]:
    """Messages for ``job_id`` (or with that Celery task id) waiting or reserved on a Redis broker.

    Reads at most ``limit`` messages of each priority list and of the unacked hash.

    Example:
        >>> [message.queue for message in find_messages(app, job.job_id)]  # doctest: +SKIP
        ['default']
    """
    broker = _broker_url(app)
    if not _is_redis(broker):
        return []
    found: list[QueuedMessage] = []
    prefix = _key_prefix(app)
    with _broker_client(broker) as client:
        names = _queue_names(app, client, prefix)
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                for bucket in BUCKETS:
                    pipe.lrange(_list_key(prefix, name, bucket), -limit, -1)
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


def _list_key(prefix: str, name: str, bucket: int) -> str:
    return f"{prefix}{name}{SEP}{bucket}" if bucket else prefix + name


def _key_prefix(app: Any) -> str:
    return str((app.conf.broker_transport_options or {}).get("global_keyprefix", "") or "")


def _is_redis(url: str) -> bool:
    return url.split("://", 1)[0].lower() in REDIS_SCHEMES


def _broker_client(url: str) -> Any:
    import redis

    if url.startswith("redis+socket://"):
        url = "unix://" + url.split("://", 1)[1]
    return redis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=10.0)
