"""End-of-run writes: what a worker writes to Redis after each run, off the job's path.

Freeing a concurrency slot or a unique lock when a run ends used to cost the worker one network
round trip per run, waited for before the next message. :class:`EndOfRun` takes such writes
from the run's thread and sends them from a thread of its own, many runs' writes in one
pipeline, then hands each reply to its callback (there, a freed slot publishes the job it
unblocks). One instance per Redis client and process (:func:`end_of_run_for`); any per-run
write whose reply the run does not need can go through it (``command`` or ``script``).

A write still queued when the process is killed is lost, as one in flight would be: a slot
then frees itself after its ``duration``, a lock after its ``ttl``. A worker flushes the queue
when it shuts down (``worker_shutdown``, and ``worker_process_shutdown`` in a pool child), and
any process does at exit.

Example:
    >>> writes = end_of_run_for(client)                               # doctest: +SKIP
    >>> writes.command("DEL", "activejob:unique:ReportJob/...")       # doctest: +SKIP
    >>> writes.flush()                                                # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from celery import signals as celery_signals
from redis.exceptions import NoScriptError

logger = logging.getLogger("activejob_celery.end_of_run")

Then = Callable[[Any], None]
"""Called with the write's reply, in the writer thread."""

IDLE_STOP = 30.0
"""Seconds without writes after which the thread stops (the next write starts a new one)."""
EXIT_FLUSH = 5.0
"""Seconds the process waits at exit for the writes still queued (a Redis that hangs)."""


class EndOfRun:
    """Writes queued by runs, sent in batches (one pipeline each) by a thread per process.

    Example:
        >>> writes = EndOfRun(redis.Redis())                          # doctest: +SKIP
        >>> writes.script(release_script, keys, args, then=print)     # doctest: +SKIP
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._pid = -1
        self._cond = threading.Condition()
        self._items: list[tuple[Any, tuple[Any, ...], Then | None]] = []
        self._busy = False
        self._alive = False

    def command(self, *command: Any, then: Then | None = None) -> None:
        """Queue one Redis command (``then`` gets its reply)."""
        self._add((None, command, then))

    def script(
        self, script: Any, keys: list[Any], args: list[Any], then: Then | None = None
    ) -> None:
        """Queue a call of a registered ``script`` (EVALSHA; loaded first if Redis lost it)."""
        self._add((script, (len(keys), *keys, *args), then))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued write was sent; False if ``timeout`` passed first."""
        if self._pid != os.getpid():
            return True
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def _add(self, item: tuple[Any, tuple[Any, ...], Then | None]) -> None:
        if self._pid != os.getpid():
            with _start_lock:
                if self._pid != os.getpid():
                    # A fork: the parent's queue and thread stay there (its lock may be held).
                    self._cond, self._items, self._busy = threading.Condition(), [], False
                    self._alive = False
                    self._pid = os.getpid()
        with self._cond:
            self._items.append(item)
            if not self._alive:  # none yet, or it stopped when idle
                name = "activejob-end-of-run"
                # If no thread can start (a pids limit), this raises and the next write tries
                # again: the queue is never left without a thread.
                threading.Thread(target=self._run, name=name, daemon=True).start()
                self._alive = True
            self._cond.notify_all()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                if not cond.wait_for(lambda: bool(self._items), IDLE_STOP):
                    self._alive = False  # the next write starts another
                    return
                items, self._items, self._busy = self._items, [], True
            try:
                self._send(items)
            except Exception as error:  # never let the thread die: later runs need it
                logger.warning("End-of-run writes failed: %s", error)
            finally:
                with cond:
                    self._busy = False
                    cond.notify_all()

    def _send(self, items: list[tuple[Any, tuple[Any, ...], Then | None]]) -> None:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for script, args, _ in items:
                    if script is None:
                        pipe.execute_command(*args)
                    else:
                        pipe.evalsha(script.sha, *args)
                replies = pipe.execute(raise_on_error=False)
        except Exception as error:
            logger.warning(
                "Could not send the end-of-run writes of %d run(s); their concurrency slots "
                "free after their duration, their unique locks after their ttl: %s",
                len(items), error,
            )  # fmt: skip
            return
        for (script, args, then), reply in zip(items, replies, strict=True):
            if isinstance(reply, NoScriptError) and script is not None:
                reply = _call_loading(script, args)  # Redis lost its scripts (a restart)
            if isinstance(reply, Exception):
                logger.warning("An end-of-run write failed: %s", reply)
            elif then is not None:
                try:
                    then(reply)
                except Exception as error:
                    logger.warning("Handling an end-of-run reply failed: %s", error)


def _call_loading(script: Any, args: tuple[Any, ...]) -> Any:
    count = int(args[0])
    try:
        return script(keys=list(args[1 : 1 + count]), args=list(args[1 + count :]))
    except Exception as error:
        return error


_writers: weakref.WeakKeyDictionary[Any, EndOfRun] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()
_start_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # Another thread of the parent may have held them at the fork: the child's are new.
    global _writers_lock, _start_lock
    _writers_lock, _start_lock = threading.Lock(), threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def end_of_run_for(client: Any) -> EndOfRun:
    """The :class:`EndOfRun` of ``client`` (one per client).

    Example:
        >>> end_of_run_for(store.client).flush()                      # doctest: +SKIP
        True
    """
    writer = _writers.get(client)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(client)
            if writer is None:
                writer = _writers[client] = EndOfRun(client)
    return writer


def flush_all(timeout: float = 10.0) -> None:
    """Send every queued end-of-run write of this process (a worker does at shutdown)."""
    for writer in list(_writers.values()):
        if not writer.flush(timeout):
            logger.warning("End-of-run writes still queued after %.0fs at shutdown", timeout)


def _on_shutdown(**_: Any) -> None:
    flush_all()


celery_signals.worker_shutdown.connect(_on_shutdown, weak=False)
celery_signals.worker_process_shutdown.connect(_on_shutdown, weak=False)
# A cold shutdown sends no worker_shutdown (nor does a program that exits without stopping its
# worker): the queue is flushed at interpreter exit too, while the daemon writer thread still runs.
atexit.register(flush_all, EXIT_FLUSH)
