"""The registry in Redis of live workers and of the jobs running on them now.

Keys (under ``activejob_key_prefix``), in the scheduled set's Redis:

- ``<prefix>:workers``: a sorted set, worker hostname -> its last heartbeat (epoch seconds);
- ``<prefix>:worker:<hostname>``: a hash of the worker (pool, concurrency, queues, ...);
- ``<prefix>:worker:<hostname>:busy``: a hash, task id -> the running job (JSON).

A worker's two hashes expire ``ttl`` seconds (six heartbeats) after its last heartbeat, so a
worker that died without a clean shutdown shows as stale (after two and a half of its own
heartbeat intervals) and then disappears with its jobs.

Example:
    >>> store = RunningStore(client, key_prefix="activejob", interval=5.0)  # doctest: +SKIP
    >>> [worker["hostname"] for worker in store.workers()]                  # doctest: +SKIP
    ['celery@web-1']
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import redis

from ..deferred_replies import DeferredReplies

MISSED_HEARTBEATS = 6
"""Heartbeats a worker may miss before its records expire."""
FORGOTTEN_AFTER = 86400.0
"""A starting worker drops the names of workers silent this long (a reader drops them sooner)."""
STALE_AFTER = 2.5
"""A worker whose last heartbeat is older than this many intervals is shown as stale."""
_DELETE_IF_SAME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class RunningStore:
    """Reads and writes the worker and running-job records of one Redis.

    Example:
        >>> store.job_started("celery@web-1", "task-1", {"job_id": "j1"})  # doctest: +SKIP
        >>> store.running()[0]["job_id"]                                    # doctest: +SKIP
        'j1'
    """

    def __init__(self, client: redis.Redis, *, key_prefix: str, interval: float) -> None:
        self.client = client
        self.prefix = key_prefix
        self.interval = interval
        self.ttl = max(1, round(interval * MISSED_HEARTBEATS))
        self.workers_key = f"{key_prefix}:workers"
        self._deferred = DeferredReplies(client)
        self._delete_if_same = client.register_script(_DELETE_IF_SAME)
        self.paused_until = 0.0
        """Runs are not listed until this ``time.monotonic()`` (set after a failed write)."""

    @property
    def deferred(self) -> DeferredReplies:
        """This store's held connections (one per thread) for writes whose replies wait."""
        return self._deferred

    def worker_key(self, hostname: str) -> str:
        """The hash of ``hostname``'s fields."""
        return f"{self.prefix}:worker:{hostname}"

    def busy_key(self, hostname: str) -> str:
        """The hash of the jobs running on ``hostname``."""
        return f"{self.prefix}:worker:{hostname}:busy"

    # --- written by workers -------------------------------------------------------------------

    def register(self, hostname: str, fields: dict[str, Any], now: float | None = None) -> None:
        """A worker starts: its fields, no jobs running (a previous run's records are dropped)."""
        now = time.time() if now is None else now
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.worker_key(hostname), self.busy_key(hostname))
        pipe.zremrangebyscore(self.workers_key, "-inf", now - FORGOTTEN_AFTER)  # unread names
        self._beat(pipe, hostname, {**fields, "started_at": now, "state": "running"}, now)
        pipe.execute()

    def heartbeat(self, hostname: str, fields: dict[str, Any], now: float | None = None) -> None:
        """The worker is alive: refresh its fields (``queues`` may change) and expiry."""
        now = time.time() if now is None else now
        pipe = self.client.pipeline(transaction=False)
        self._beat(pipe, hostname, fields, now)
        pipe.execute()

    def stopping(self, hostname: str) -> None:
        """The worker is shutting down; its running jobs are finishing."""
        self.client.hset(self.worker_key(hostname), "state", "stopping")

    def unregister(self, hostname: str) -> None:
        """The worker stopped cleanly: remove it and whatever it still listed as running."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self.workers_key, hostname)
        pipe.delete(self.worker_key(hostname), self.busy_key(hostname))
        pipe.execute()

    def job_started(self, hostname: str, task_id: str, record: dict[str, Any]) -> None:
        """One write, not waited for: the job is running on ``hostname``.

        The commands go out on this thread's held connection and their replies are read later
        (:mod:`activejob_celery.deferred_replies`), so a run waits for no round trip; an error
        reply is raised by a later call.
        """
        key = self.busy_key(hostname)
        self._deferred.send_many(
            ("HSET", key, task_id, json.dumps(record, default=str)), ("EXPIRE", key, self.ttl)
        )

    def job_finished(self, hostname: str, task_id: str) -> None:
        """One write, not waited for: the run ended (any outcome)."""
        self._deferred.send("HDEL", self.busy_key(hostname), task_id)

    def unlist_dead(self, hostname: str, alive: Callable[[int], bool]) -> list[dict[str, Any]]:
        """Remove the runs whose process died mid-run (``alive(pid)`` False); returns them.

        A pool process killed mid-run (hard time limit, out of memory) never writes its run's
        end, and every heartbeat renews the hash. A record is removed only if unchanged since
        it was read (a redelivery may list the same task id again meanwhile).
        """
        key = self.busy_key(hostname)
        dead = []
        for task_id, value in self.client.hgetall(key).items():
            record = _decode_record(value)
            pid = _integer(record.get("pid"))
            if pid is not None and not alive(pid):
                dead.append((task_id, value, record))
        for task_id, value, _ in dead:
            self._delete_if_same(keys=[key], args=[task_id, value])
        return [{**record, "provider_job_id": _text(task_id)} for task_id, _, record in dead]

    def flush(self) -> None:
        """Read the replies of this thread's writes not waited for (raises their error)."""
        self._deferred.drain()

    def _beat(self, pipe: Any, hostname: str, fields: dict[str, Any], now: float) -> None:
        encoded = {name: _encode(value) for name, value in fields.items()}
        encoded["heartbeat_at"] = repr(now)
        encoded["interval"] = repr(self.interval)  # readers judge staleness by the writer's
        pipe.hset(self.worker_key(hostname), mapping=encoded)
        pipe.expire(self.worker_key(hostname), self.ttl)
        pipe.expire(self.busy_key(hostname), self.ttl)
        pipe.zadd(self.workers_key, {hostname: now})

    # --- read by the CLI and the dashboard ----------------------------------------------------

    def workers(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every worker seen within ``ttl``, by hostname; ``stale`` after missed heartbeats.

        Example:
            >>> store.workers()[0]["busy"]                         # doctest: +SKIP
            2
        """
        now = time.time() if now is None else now
        self.flush()  # this thread's own writes land first
        names = self._hostnames()
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.worker_key(name))
            pipe.hlen(self.busy_key(name))
        replies = pipe.execute() if names else []
        found, gone = [], []
        for index, name in enumerate(names):
            raw, busy = replies[2 * index], replies[2 * index + 1]
            if not raw:
                gone.append(name)
                continue
            found.append(_worker(name, raw, int(busy), now))
        if gone:
            self.client.zrem(self.workers_key, *gone)
        return found

    def running(self) -> list[dict[str, Any]]:
        """Every job running on a listed worker, the longest-running first.

        Example:
            >>> store.running()[0]["worker"]                       # doctest: +SKIP
            'celery@web-1'
        """
        self.flush()  # this thread's own writes land first
        names = self._hostnames()
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.busy_key(name))
        replies = pipe.execute() if names else []
        jobs = []
        for name, busy in zip(names, replies, strict=True):
            for task_id, value in busy.items():
                record = _decode_record(value)
                record.setdefault("provider_job_id", _text(task_id))
                record.setdefault("worker", name)
                jobs.append(record)
        jobs.sort(key=lambda job: (_number(job.get("started_at")) or 0.0, str(job.get("job_id"))))
        return jobs

    def _hostnames(self) -> list[str]:
        return [_text(name) for name in self.client.zrange(self.workers_key, 0, -1)]


def _worker(name: str, raw: dict[Any, Any], busy: int, now: float) -> dict[str, Any]:
    fields = {_text(key): _text(value) for key, value in raw.items()}
    heartbeat = _number(fields.get("heartbeat_at"))
    interval = _number(fields.get("interval")) or 0.0
    queues = _json(fields.get("queues"))
    return {
        "hostname": name,
        "pid": _integer(fields.get("pid")),
        "pool": fields.get("pool", ""),
        "concurrency": _integer(fields.get("concurrency")),
        "queues": queues if isinstance(queues, list) else [],
        "busy": busy,
        "started_at": _number(fields.get("started_at")),
        "last_heartbeat": heartbeat,
        "state": fields.get("state", "running"),
        "stale": heartbeat is None or now - heartbeat > interval * STALE_AFTER,
    }


def _decode_record(value: Any) -> dict[str, Any]:
    decoded = _json(_text(value))
    return dict(decoded) if isinstance(decoded, dict) else {}


def _encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _json(value: str | None) -> Any:
    try:
        return json.loads(value) if value is not None else None
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None
