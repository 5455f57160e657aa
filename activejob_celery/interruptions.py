"""Interrupted deliveries: a run that started and never finished is seen by the next delivery.

Each run of a job marks its start in Redis (the dead-letter store's Redis): the hash
``activejob:running:<job_id>`` holds the task id of the run in progress and how many of the
job's deliveries were interrupted so far. A run that ends in any way clears its mark. When a
message is delivered again with the same task id and its mark is still there, the process that
ran it died mid-run (SIGKILL, OOM, a hard crash): the count goes up and the new run starts by
raising :class:`~activejob_celery.errors.JobInterruptedError`, or, after
``activejob_max_interruptions`` interruptions, becomes a ``killed`` dead letter.

A message redelivered while its first run is still going (a visibility timeout shorter than the
run) is counted too: the broker handed the same message out twice, so one run is a duplicate.

Example:
    >>> ledger = ledger_for(app)                                    # doctest: +SKIP
    >>> ledger.start(job.job_id, task_id).interruptions              # doctest: +SKIP
    0
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from celery.signals import worker_process_shutdown, worker_shutdown

from .dead_letters.binding import is_set_up, settings_for, store_for
from .dead_letters.redis_store import RedisDeadLetterStore
from .deferred_replies import DeferredReplies

if TYPE_CHECKING:
    from celery import Celery

    from .config import Settings

logger = logging.getLogger(__name__)

MARK_TTL = 7 * 24 * 3600
"""Seconds a job's mark (and its interruption count) outlives its last start."""

# KEYS[1]: this run's mark; KEYS[2..]: marks of runs this process ended since its last start.
# ARGV[1]: this run's task id, ARGV[2]: the TTL; then, per ended run, its task id and '1' when
# the job is over for good. Clearing ended runs here saves each run a round trip of its own.
_START = """
for i = 2, #KEYS do
  local ended, done = ARGV[2 * i - 1], ARGV[2 * i]
  if done == '1' then
    redis.call('DEL', KEYS[i])
  elseif redis.call('HGET', KEYS[i], 'task') == ended then
    redis.call('HDEL', KEYS[i], 'task')
  end
end
local previous = redis.call('HGET', KEYS[1], 'task')
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if previous == ARGV[1] then
  count = count + 1
  redis.call('HSET', KEYS[1], 'count', count)
end
redis.call('HSET', KEYS[1], 'task', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if previous == ARGV[1] then return {1, count} end
return {0, count}
"""

_FINISH = """
if redis.call('HGET', KEYS[1], 'task') == ARGV[1] then redis.call('HDEL', KEYS[1], 'task') end
return 1
"""


@dataclasses.dataclass(frozen=True)
class Start:
    """What the mark said when a run started.

    Attributes:
        interrupted: the previous delivery of this very message started and never finished.
        interruptions: interrupted deliveries of this job so far, this one included.

    Example:
        >>> Start(interrupted=True, interruptions=1).interrupted
        True
    """

    interrupted: bool
    interruptions: int


class Ledger:
    """Run marks in Redis, keyed by job id (see the module docstring).

    Example:
        >>> ledger = Ledger(redis.Redis(), Settings())               # doctest: +SKIP
        >>> ledger.key("job-1")                                      # doctest: +SKIP
        'activejob:running:job-1'
    """

    def __init__(self, client: Any, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._start = client.register_script(_START)
        self._finish = client.register_script(_FINISH)
        self._ended: list[tuple[str, str, bool]] = []
        self._ended_lock = threading.Lock()
        self._deferred = DeferredReplies(client)

    def key(self, job_id: str) -> str:
        """The job's mark: ``activejob:running:<job_id>``."""
        return self.settings.key("running", job_id)

    def start(self, job_id: str, task_id: str, *, redelivered: bool = True) -> Start:
        """Mark the run of ``task_id`` as started; report an unfinished previous delivery.

        Runs this process ended since (:meth:`finish_later`) are cleared in the same step. A
        first delivery (``redelivered`` False: the broker sets the flag on every message it
        hands out again, kombu's Redis restore included) cannot follow an interrupted run of
        the same message, so its mark is sent without waiting for the reply.
        """
        with self._ended_lock:
            ended, self._ended = self._ended, []
        keys, args = [self.key(job_id)], [task_id, MARK_TTL]
        for ended_job, ended_task, done in ended:
            keys.append(self.key(ended_job))
            args += [ended_task, "1" if done else "0"]
        try:
            if not redelivered:
                self._deferred.send("EVAL", _START, len(keys), *keys, *args)
                return Start(False, 0)
            self._deferred.drain()  # earlier marks first
            interrupted, count = self._start(keys=keys, args=args)
        except Exception:
            with self._ended_lock:  # not cleared: try again with the next start
                self._ended[:0] = ended
            raise
        return Start(bool(int(interrupted)), int(count))

    def finish(self, job_id: str, task_id: str, *, done: bool) -> None:
        """Clear the run's mark; ``done`` (the job succeeded or failed for good) forgets it all."""
        if done:
            self.client.delete(self.key(job_id))
        else:
            self._finish(keys=[self.key(job_id)], args=[task_id])

    def finish_later(self, job_id: str, task_id: str, *, done: bool) -> None:
        """As :meth:`finish`, sent with this process's next :meth:`start` (or :meth:`flush`).

        The mark stays a little longer; the broker has the run's acknowledgement by then, so
        no delivery of this message can follow and find it.
        """
        with self._ended_lock:
            self._ended.append((job_id, task_id, done))

    def flush(self) -> None:
        """Clear the marks of every run ended with :meth:`finish_later` now."""
        self._deferred.drain()
        with self._ended_lock:
            ended, self._ended = self._ended, []
        for job_id, task_id, done in ended:
            self.finish(job_id, task_id, done=done)


class MemoryLedger(Ledger):
    """The same marks in this process (a ``memory://`` store, for tests): no crash survives it.

    Example:
        >>> from activejob_celery.config import Settings
        >>> ledger = MemoryLedger(Settings())
        >>> ledger.start("job-1", "task-1"), ledger.start("job-1", "task-1")
        (Start(interrupted=False, interruptions=0), Start(interrupted=True, interruptions=1))
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._marks: dict[str, tuple[str | None, int]] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, task_id: str, *, redelivered: bool = True) -> Start:
        """As :meth:`Ledger.start` (always answered at once)."""
        with self._lock:
            previous, count = self._marks.get(job_id, (None, 0))
            interrupted = previous == task_id
            count += int(interrupted)
            self._marks[job_id] = (task_id, count)
        return Start(interrupted, count)

    def finish_later(self, job_id: str, task_id: str, *, done: bool) -> None:
        """As :meth:`Ledger.finish` (nothing to save in memory)."""
        self.finish(job_id, task_id, done=done)

    def flush(self) -> None:
        """Nothing waits in memory."""

    def finish(self, job_id: str, task_id: str, *, done: bool) -> None:
        """As :meth:`Ledger.finish`."""
        with self._lock:
            previous, count = self._marks.get(job_id, (None, 0))
            if done:
                self._marks.pop(job_id, None)
            elif previous == task_id:
                self._marks[job_id] = (None, count)


_ledgers: weakref.WeakKeyDictionary[Any, Ledger] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def ledger_for(app: Celery) -> Ledger | None:
    """The run marks of ``app`` (those of its dead-letter store), or None when dead letters are off.

    Example:
        >>> ledger_for(app).start("job-1", "task-1")                 # doctest: +SKIP
        Start(interrupted=False, interruptions=0)
    """
    if not is_set_up(app):
        return None
    store = store_for(app)  # one per app and settings, so its ledger is too
    with _lock:
        ledger = _ledgers.get(store)
        if ledger is None:
            settings = settings_for(app)
            if isinstance(store, RedisDeadLetterStore):
                ledger = Ledger(store.client, settings)
            else:
                ledger = MemoryLedger(settings)
            _ledgers[store] = ledger
        return ledger


def ledger_problem(app: Celery) -> str | None:
    """Why interrupted runs cannot be seen across processes for ``app``, or None when they can.

    Example:
        >>> ledger_problem(app)                                      # doctest: +SKIP
        'the dead-letter store is off; set activejob_dead_letters_url'
    """
    if not is_set_up(app):
        return (
            "the dead-letter store is off, so runs cannot be marked; set activejob_dead_letters_url"
        )
    try:
        ledger = ledger_for(app)
    except Exception as error:  # a store that cannot be built: say so, do not stop the worker
        return f"the dead-letter store cannot be reached ({error}); set activejob_dead_letters_url"
    if isinstance(ledger, MemoryLedger):
        return (
            "the dead-letter store is in memory, so a mark dies with its process; "
            "set activejob_dead_letters_url to a Redis URL"
        )
    return None


def task_ledger(task: Any, *, in_worker: bool = False) -> Ledger | None:
    """The run marks for ``task``'s app when it runs in a worker (``in_worker``: known to).

    Example:
        >>> task_ledger(app.tasks[ExportJob.job_name])   # outside a worker  # doctest: +SKIP
        None
    """
    if task is None:
        return None
    request = task.request
    if not in_worker and (request is None or request.called_directly or request.is_eager):
        return None
    try:
        return ledger_for(task.app)
    except Exception as error:  # no store: run unmarked (the worker said so at start)
        logger.debug("No run marks for %s: %s", task.name, error)
        return None


def flush_all() -> None:
    """Clear every mark still waiting for a next start in this process (at its shutdown).

    Example:
        >>> flush_all()                                              # doctest: +SKIP
    """
    with _lock:
        ledgers = list(_ledgers.values())
    for ledger in ledgers:
        try:
            ledger.flush()
        except Exception as error:  # a mark left behind expires; it only over-counts a redelivery
            logger.warning("Could not clear run marks at shutdown: %s", error)


def finish_quietly(
    ledger: Ledger, job_id: str, task_id: str, *, done: bool, later: bool = False
) -> None:
    """:meth:`Ledger.finish` (``later``: :meth:`Ledger.finish_later`), logging, never raising.

    Example:
        >>> finish_quietly(ledger, job.job_id, task_id, done=True)   # doctest: +SKIP
    """
    try:
        if later:
            ledger.finish_later(job_id, task_id, done=done)
            return
        ledger.finish(job_id, task_id, done=done)
    except Exception as error:  # a mark left behind expires; it only over-counts a redelivery
        logger.warning("Could not clear the run mark of job %s (%s): %s", job_id, task_id, error)


def _flush_at_shutdown(**_: Any) -> None:
    flush_all()


# A prefork child or a solo worker clears the marks of its last runs as it exits.
for _signal in (worker_process_shutdown, worker_shutdown):
    _signal.connect(_flush_at_shutdown, weak=False, dispatch_uid="activejob_celery.interruptions")
