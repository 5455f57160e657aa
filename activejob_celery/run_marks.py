"""Run marks in Redis: each run of a job marks its start; a delivery finds an unfinished one.

The hash ``activejob:running:<job_id>`` holds the task id of the run in progress and how many of
the job's deliveries were interrupted so far (see :mod:`activejob_celery.interruptions` for what
the worker does with them). A first delivery's mark is written without waiting for Redis's
reply (:mod:`activejob_celery.deferred_replies`), and a succeeded run's mark is cleared by the
next start's script, so a run costs one write on the common path.

Example:
    >>> ledger = Ledger(redis.Redis(), Settings())                   # doctest: +SKIP
    >>> ledger.start("job-1", "task-1")                              # doctest: +SKIP
    Start(interrupted=False, interruptions=0)
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError

from .deferred_replies import DeferredReplies

if TYPE_CHECKING:
    from .config import Settings

logger = logging.getLogger("activejob_celery.interruptions")

MARK_TTL = 7 * 24 * 3600
"""Seconds a job's mark (and its interruption count) outlives its last start."""
PAUSE_AFTER_FAILURE = 5.0
"""Seconds runs go unmarked after the store could not be reached (no job waits on it)."""
MAX_ENDED = 1000
"""Ended runs kept for the next start at most; older ones are left to expire (``MARK_TTL``)."""

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
        self._paused_until = 0.0

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
        command, ended = self._take_start(job_id, task_id)
        try:
            if not redelivered:
                self._deferred.send(*command)
                return Start(False, 0)
            self._drain_quietly()  # earlier marks first
            reply = self._start(keys=command[3 : 3 + command[2]], args=command[3 + command[2] :])
        except Exception as error:
            self.start_failed(ended, error)
            raise
        return start_of(reply)

    def start_command(self, job_id: str, task_id: str) -> tuple[tuple[Any, ...], list[Any]]:
        """The start's script as a command to write on another connection to the same Redis.

        Returns the command and the ended runs it clears (give them to :meth:`start_failed` if
        the write or its reply fails); its reply is read with :func:`start_of`. Marks sent
        earlier on this ledger's own connection are confirmed first, so they land before it.

        Example:
            >>> command, ended = ledger.start_command("job-1", "task-1#0")  # doctest: +SKIP
        """
        self._drain_quietly()
        return self._take_start(job_id, task_id)

    def _take_start(self, job_id: str, task_id: str) -> tuple[tuple[Any, ...], list[Any]]:
        if time.monotonic() < self._paused_until:
            raise ConnectionError("run marks are paused: the store could not be reached")
        with self._ended_lock:
            ended, self._ended = self._ended, []
        keys, args = [self.key(job_id)], [task_id, MARK_TTL]
        for ended_job, ended_task, done in ended:
            keys.append(self.key(ended_job))
            args += [ended_task, "1" if done else "0"]
        return ("EVAL", _START, len(keys), *keys, *args), ended

    def start_failed(self, ended: list[Any], error: BaseException) -> None:
        """A start's write failed: its ended runs wait for the next one; a lost store pauses."""
        with self._ended_lock:  # not cleared: try again with the next start
            self._ended[:0] = ended
            del self._ended[:-MAX_ENDED]
        if isinstance(error, ConnectionError | OSError | RedisConnectionError):
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE

    def finish(self, job_id: str, task_id: str, *, done: bool) -> None:
        """Clear the run's mark; ``done`` (the job succeeded or failed for good) forgets it all."""
        self._drain_quietly()  # this run's own mark, sent without waiting, lands first
        if done:
            self.client.delete(self.key(job_id))
        else:
            self._finish(keys=[self.key(job_id)], args=[task_id])

    def finish_later(self, job_id: str, task_id: str, *, done: bool) -> None:
        """As :meth:`finish`, sent with this process's next :meth:`start` (or :meth:`flush`).

        The mark stays until then: should the acknowledgement of this run be lost on its way
        to the broker (a worker killed right after the run), the message's next delivery finds
        the mark and starts with ``JobInterruptedError`` although the run finished. The window
        is the time between the run's end and its acknowledgement.
        """
        with self._ended_lock:
            self._ended.append((job_id, task_id, done))
            del self._ended[:-MAX_ENDED]

    def _drain_quietly(self) -> None:
        try:
            self._deferred.drain()
        except Exception as error:  # those marks may be missing; the runs go on regardless
            logger.warning("Could not confirm the start marks of earlier runs: %s", error)

    def flush(self) -> None:
        """Clear the marks of every run ended with :meth:`finish_later` now."""
        self._deferred.drain()
        with self._ended_lock:
            ended, self._ended = self._ended, []
        for job_id, task_id, done in ended:
            self.finish(job_id, task_id, done=done)


def start_of(reply: Any) -> Start:
    """The :class:`Start` a start script's reply (``[interrupted, count]``) says.

    Example:
        >>> start_of([1, 2])
        Start(interrupted=True, interruptions=2)
    """
    interrupted, count = reply
    return Start(bool(int(interrupted)), int(count))


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
