"""The poller that releases due jobs, and the worker bootstep that runs it in ``celery worker``."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from celery import bootsteps
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from .store import Release, ScheduledSet

logger = logging.getLogger(__name__)

_MIN_SLEEP = 0.005
_WAKE_JITTER = 0.01
FORK_WAIT = 10.0
"""Seconds a fork waits for a running pass to finish before it goes ahead anyway."""

_running: weakref.WeakSet[Poller] = weakref.WeakSet()
_held_for_fork: list[Poller] = []


class Poller:
    """Moves due jobs to their queues every ``interval`` seconds (randomly spread) or sooner.

    Each pass releases at most one batch; a full batch is followed at once by the next. Between
    passes it sleeps a random 50-100 % of ``interval``, so pollers in many workers do not align,
    but never past the earliest run time it saw, and a job scheduled from this process for an
    earlier time wakes it. Any number of pollers may share a set: the release script is atomic.

    Example:
        >>> poller = Poller(scheduled_set_for(app), interval=1.0)   # doctest: +SKIP
        >>> poller.start()                                     # doctest: +SKIP
        >>> poller.stop()                                      # doctest: +SKIP
    """

    def __init__(self, scheduled: ScheduledSet, *, interval: float) -> None:
        self.scheduled = scheduled
        self.interval = interval
        self.released = 0
        """Jobs this poller released so far."""
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._wake_at = 0.0
        self._thread: threading.Thread | None = None
        self._failing_since: float | None = None
        self._pass_lock = threading.Lock()
        """Held for a whole pass; a fork in this process waits for it (see ``_before_fork``)."""

    def run_once(self) -> Release:
        """One release pass (raises what Redis raises)."""
        result = self.scheduled.release()
        self.released += result.released
        return result

    def run(self) -> None:
        """Poll until :meth:`stop` is called; Redis outages are logged and waited out."""
        self.scheduled.add_listener(self.wake)
        try:
            while not self._stopping.is_set():
                self._sleep(self._pass())
        finally:
            self.scheduled.remove_listener(self.wake)

    def start(self) -> None:
        """Run :meth:`run` in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run, name="activejob-scheduler", daemon=True)
        _running.add(self)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current pass and stop; a pass never leaves a job half-moved.

        It takes the poller's locks, so call it from normal code, not from a signal handler.
        """
        self._stopping.set()
        self._wake.set()
        _running.discard(self)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the poller thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self, run_at: float) -> None:
        """A job was scheduled for ``run_at``: wake up earlier than planned if needed.

        With an early release window, the job is due for release that much before ``run_at``.
        """
        if run_at - self.scheduled.ahead < self._wake_at:
            self._wake.set()

    def _pass(self) -> float:
        """Release until nothing more is due; returns how long to sleep."""
        with self._pass_lock:
            return self._locked_pass()

    def _locked_pass(self) -> float:
        try:
            while True:
                result = self.run_once()
                if self._failing_since is not None:
                    logger.info("Scheduler reconnected to Redis")
                    self._failing_since = None
                done = result.released + result.failed + result.blocked + result.put_off
                full = done >= self.scheduled.batch_size
                if not full or self._stopping.is_set():
                    break
        except RedisError as error:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                logger.warning("Scheduler cannot reach Redis (retrying): %s", error)
            return self.interval
        except Exception:
            logger.exception("Scheduler pass failed; retrying in %.1fs", self.interval)
            return self.interval
        delay = self.interval * random.uniform(0.5, 1.0)
        if result.next_at is not None:
            until_next = result.next_at - time.time() + random.uniform(0.0, _WAKE_JITTER)
            delay = min(delay, until_next)
        return max(delay, _MIN_SLEEP)

    def _sleep(self, seconds: float) -> None:
        self._wake_at = time.time() + seconds
        self._wake.wait(seconds)
        self._wake.clear()
        self._wake_at = 0.0


def _before_fork() -> None:
    # A child forked mid-pass would inherit whatever the pass holds at that instant: a module
    # import lock (a first connect imports encodings.idna), a connection pool's lock, the
    # logging lock. The child then blocks forever on it (the embedded beat of `worker -B` hung
    # in `import encodings.idna`). So a fork waits until the running passes are done.
    current = threading.current_thread()
    for poller in list(_running):
        if poller._thread is not current and poller._pass_lock.acquire(timeout=FORK_WAIT):
            _held_for_fork.append(poller)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop()._pass_lock.release()


def _after_fork_in_child() -> None:
    # The poller threads do not exist in the child: its pollers are not running there.
    for poller in list(_running):
        poller._thread = None
    _running.clear()
    _after_fork_in_parent()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


class SchedulerPoller(bootsteps.StartStopStep):  # type: ignore[misc]
    """Runs a :class:`~activejob_celery.scheduler.Poller` thread for as long as the worker runs.

    Added by ``init_app`` when the scheduled set is in use, unless
    ``activejob_scheduler_embedded = False`` (then run ``celery -A app jobs scheduler``).
    It starts after the pool and after the embedded beat of ``worker -B`` (both fork before
    the thread exists), runs in the worker's main process only, and stops before the pool on
    warm and cold shutdown. A later fork (a replaced pool process) waits for a running pass.

    Example:
        >>> app.conf.activejob_scheduler_embedded = False      # doctest: +SKIP
    """

    label = "activejob scheduler"
    requires = ("celery.worker.components:Pool", "celery.worker.components:Beat")

    def create(self, worker: Any) -> Any:
        """Build the poller; Celery then calls its ``start()`` and ``stop()``."""
        # import here: cycle: scheduler imports this module
        from . import poller_for

        poller = poller_for(worker.app)
        logger.info(
            "Scheduler will poll %s every %.1fs (%s)",
            poller.scheduled.key,
            poller.interval,
            "direct" if poller.scheduled.direct else "through Celery",
        )
        return poller
