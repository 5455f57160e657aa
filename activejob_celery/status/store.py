"""Job status in Redis: one hash per job, a cancel flag per job, and the scripts that write them.

Keys (under ``activejob_key_prefix``): ``<prefix>:status:<job_id>`` (a hash: ``status``,
``done``, ``total``, ``message``, ``updated_at``, ``job_class``, ``queue``, ``worker``,
``started_at``, ``ended_at``) and ``<prefix>:cancel:<job_id>`` (the persistent cancel flag).

Example:
    >>> store = StatusStore(redis.Redis(), Settings())            # doctest: +SKIP
    >>> store.read("0b1c...")["status"]                           # doctest: +SKIP
    'queued'
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..config import redis_location
from .batch import enqueued_batch, packed_batch
from .packed import PackedPush

if TYPE_CHECKING:
    import redis

    from ..base import ApplicationJob
    from ..config import Settings

STATUSES = (
    "scheduled", "queued", "running", "retrying", "succeeded", "discarded", "dead",
    "interrupted", "cancelled",
)  # fmt: skip
"""Every status a job can have, in the order of its life."""
FINAL = frozenset({"succeeded", "discarded", "dead", "cancelled"})
"""Statuses after which nothing more happens: kept ``activejob_status_ttl`` seconds."""
WAITING_TTL = 7 * 24 * 3600
"""Seconds a status of a job that has not ended outlives its last write (at least)."""
CANCEL_TTL = 30 * 24 * 3600
"""Seconds a cancel flag is kept (at least; never less than ``activejob_status_ttl``)."""

# KEYS: a queue's list, a status hash. ARGV: message, now, ttl, status, job class, queue.
# The direct publish of one job and its status as one command (no pipeline to build and read).
_PUSH = """
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'status', ARGV[4], 'updated_at', ARGV[2], 'job_class', ARGV[5],
  'queue', ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: status hash, cancel flag[, the worker's busy hash]. ARGV: now, running ttl, final ttl,
# worker, job class, queue[, task id, the run's record, busy ttl]. One round trip at the start
# of a run: a cancelled job is told so and does not start; a run that may start is listed in
# the busy hash when one is given (:mod:`activejob_celery.run_writes`).
START = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'updated_at', ARGV[1], 'ended_at', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
redis.call('HSET', KEYS[1], 'status', 'running', 'updated_at', ARGV[1], 'started_at', ARGV[1],
  'worker', ARGV[4], 'job_class', ARGV[5], 'queue', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if KEYS[3] then
  redis.call('HSET', KEYS[3], ARGV[7], ARGV[8])
  redis.call('EXPIRE', KEYS[3], ARGV[9])
end
return 0
"""

# KEYS: status hash, cancel flag. ARGV: status, now, ttl, final ttl, then field/value pairs.
# A job that would run again (retrying, interrupted, queued) but is cancelled ends cancelled;
# an interrupted run whose end was written already (killed: dead) keeps that end.
END = """
local status = ARGV[1]
local now = redis.call('HGET', KEYS[1], 'status')
if status == 'interrupted' and now and now ~= 'running' then
  return now  -- its end was already written (a hard time limit: by the worker's main process)
end
local again = status == 'retrying' or status == 'interrupted' or status == 'queued'
local ttl = ARGV[3]
if again and redis.call('EXISTS', KEYS[2]) == 1 then
  status = 'cancelled'
  ttl = ARGV[4]
end
redis.call('HSET', KEYS[1], 'status', status, 'updated_at', ARGV[2])
if status ~= 'retrying' and status ~= 'queued' and status ~= 'interrupted' then
  redis.call('HSET', KEYS[1], 'ended_at', ARGV[2])
end
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ttl)
return status
"""

# KEYS: status hash, cancel flag. ARGV: now, flag ttl, final ttl.
# A job that has not started yet is cancelled at once; a running one keeps its status until
# its run ends (see END); returns the status before.
_CANCEL = """
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
local before = redis.call('HGET', KEYS[1], 'status')
if before == 'queued' or before == 'scheduled' or before == 'retrying'
    or before == 'interrupted' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'updated_at', ARGV[1], 'ended_at', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return before
"""


class StatusStore:
    """The status hashes and cancel flags of one app, in the scheduled set's Redis.

    Example:
        >>> status_store_for(app).read(job.job_id)             # doctest: +SKIP
        {'status': 'running', 'done': 50, 'total': 200, ...}
    """

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.prefix = settings.key("status") + ":"
        self.cancel_prefix = settings.key("cancel") + ":"
        self.ttl = int(settings.status_ttl)
        self.waiting_ttl = max(self.ttl, WAITING_TTL)
        self.cancel_ttl = max(self.ttl, CANCEL_TTL)
        self._push = client.register_script(_PUSH)
        self._start = client.register_script(START)
        self._end = client.register_script(END)
        self._cancel = client.register_script(_CANCEL)
        self._packed = PackedPush(self, self._push)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redis_location(self.client)} {self.prefix}*>"

    def key(self, job_id: str) -> str:
        """The status hash of ``job_id``."""
        return self.prefix + job_id

    def cancel_key(self, job_id: str) -> str:
        """The cancel flag of ``job_id``."""
        return self.cancel_prefix + job_id

    # ------------------------------------------------------------------ enqueue

    def enqueued(self, pipe: Any, job: ApplicationJob, status: str, run_at: float = 0.0) -> None:
        """Add the writes of an enqueue (``queued`` or ``scheduled``) to ``pipe`` (no round trip).

        Two plain commands (HSET, EXPIRE) built without redis-py's argument checks: they ride
        with the job's message on the enqueue hot path.

        Example:
            >>> store.enqueued(pipe, job, "queued"); pipe.execute()  # doctest: +SKIP
        """
        now = time.time()
        key = self.prefix + job.job_id
        fields: tuple[Any, ...] = ("status", status, "updated_at", repr(now))
        fields += ("job_class", job.job_name, "queue", job.queue_name)
        if run_at:
            fields += ("run_at", repr(run_at))
        pipe.execute_command("HSET", key, *fields)
        ttl = self.waiting_ttl + max(0, int(run_at - now)) if run_at else self.waiting_ttl
        pipe.execute_command("EXPIRE", key, ttl)

    def push(self, list_key: bytes, message: bytes, job: ApplicationJob) -> None:
        """LPUSH a job's message and write its ``queued`` status in one command.

        Example:
            >>> store.push(b"default", raw_message, job)           # doctest: +SKIP
        """
        self._packed.push(list_key, message, job)  # see :mod:`.packed`

    def enqueued_batch(
        self,
        pipe: Any,
        jobs: list[ApplicationJob],
        status: str = "queued",
        run_at: list[float] | None = None,
    ) -> None:
        """Add the writes of many enqueues to ``pipe`` as one command (``perform_all_later``).

        ``run_at``: each delayed job's run time (see :mod:`.batch`).

        Example:
            >>> store.enqueued_batch(pipe, jobs); pipe.execute()   # doctest: +SKIP
        """
        enqueued_batch(self, pipe, jobs, status, run_at)

    def packed_batch(self, jobs: list[ApplicationJob]) -> bytes:
        """:meth:`enqueued_batch`'s command for ``queued`` jobs, packed (see :mod:`.batch`)."""
        return packed_batch(self, jobs)

    def enqueued_many(self, jobs: list[ApplicationJob], status: str = "queued") -> None:
        """Write the enqueue of ``jobs`` in one round trip."""
        with self.client.pipeline(transaction=False) as pipe:
            if len(jobs) == 1:
                self.enqueued(pipe, jobs[0], status)
            else:
                self.enqueued_batch(pipe, jobs, status)
            pipe.execute()

    # ------------------------------------------------------------------ runs

    def start(self, job_id: str, *, worker: str, job_class: str, queue: str) -> bool:
        """Mark the run of ``job_id`` started; False when it is cancelled (it must not run).

        Example:
            >>> store.start(job.job_id, worker="w1@host", job_class="Job", queue="default")
            True
        """
        keys = [self.prefix + job_id, self.cancel_prefix + job_id]
        args: list[Any] = [repr(time.time()), self.waiting_ttl, self.ttl, worker, job_class]
        args.append(queue)
        return not int(self._start(keys=keys, args=args))

    def end(self, job_id: str, status: str, fields: dict[str, Any] | None = None) -> str:
        """Write the outcome of a run (with any progress not yet written); returns the status.

        ``retrying``, ``interrupted`` and ``queued`` become ``cancelled`` when the job's cancel
        flag is set: it will not run again.
        """
        keys = [self.prefix + job_id, self.cancel_prefix + job_id]
        ttl = self.ttl if status in FINAL else self.waiting_ttl
        args: list[Any] = [status, repr(time.time()), ttl, self.ttl]
        for name, value in (fields or {}).items():
            args += [name, value]
        written = self._end(keys=keys, args=args)
        return written.decode() if isinstance(written, bytes) else str(written)

    def progress(self, job_id: str, fields: dict[str, str]) -> None:
        """Write progress fields (``done``, ``total``, ``message``) in one round trip."""
        key = self.prefix + job_id
        mapping: dict[Any, Any] = {**fields, "updated_at": repr(time.time())}
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, self.waiting_ttl)
            pipe.execute()

    # ------------------------------------------------------------------ reading, cancelling

    def read(self, job_id: str) -> dict[str, Any] | None:
        """The status of ``job_id`` as a dict, or None when unknown (or expired)."""
        raw = self.client.hgetall(self.prefix + job_id)
        return decode(raw) if raw else None

    def read_many(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The status of each known id in ``job_ids`` (one round trip), by job id."""
        with self.client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.prefix + job_id)
            found = pipe.execute()
        return {job_id: decode(raw) for job_id, raw in zip(job_ids, found, strict=True) if raw}

    def cancel(self, job_id: str) -> str | None:
        """Set the cancel flag of ``job_id``; returns its status before (None if unknown)."""
        keys = [self.prefix + job_id, self.cancel_prefix + job_id]
        before = self._cancel(keys=keys, args=[repr(time.time()), self.cancel_ttl, self.ttl])
        return before.decode() if isinstance(before, bytes) else before

    def is_cancelled(self, job_id: str) -> bool:
        """Whether the cancel flag of ``job_id`` is set (one round trip)."""
        return bool(self.client.exists(self.cancel_prefix + job_id))


_NUMBERS = ("done", "total")
_TIMES = ("updated_at", "started_at", "ended_at", "run_at")


def decode(raw: dict[Any, Any]) -> dict[str, Any]:
    """A status hash as Python values: numbers for ``done``/``total``, floats for times.

    Example:
        >>> decode({b"status": b"running", b"done": b"50", b"total": b"200"})["pct"]
        25.0
    """
    found = {_text(name): _text(value) for name, value in raw.items()}
    status: dict[str, Any] = {"status": None, "done": None, "total": None, "message": None}
    status["updated_at"] = None
    for name, value in found.items():
        if name in _NUMBERS:
            status[name] = number(value)
        elif name in _TIMES:
            status[name] = float(value)
        else:
            status[name] = value
    done, total = status["done"], status["total"]
    if isinstance(done, int | float) and isinstance(total, int | float) and total > 0:
        status["pct"] = round(100.0 * done / total, 1)
    return status


def number(text: str) -> int | float:
    """``"3"`` -> 3, ``"2.5"`` -> 2.5 (progress counts keep the type they were given)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
