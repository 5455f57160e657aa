"""The event loops async jobs run on: one per worker process or pool thread, or one loop thread.

A thread's loop is made on first use and kept between jobs; it is closed when the thread ends
(its owner in the thread's local data goes) or at worker shutdown (:func:`close_loops`). A solo
worker with ``activejob_async_concurrency`` > 1 runs every async job on one loop thread instead
(:func:`start_shared_loop`), and sync jobs then take :func:`sync_gate` one at a time. The runs
themselves are :mod:`.async_run`'s.

Example:
    >>> job_loop() is job_loop()
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from typing import Any

_local = threading.local()
_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_lock = threading.Lock()
_shared: list[tuple[asyncio.AbstractEventLoop, threading.Thread]] = []
"""The loop thread of a solo worker with ``activejob_async_concurrency`` > 1 (see running)."""
_sync_gate = threading.Lock()


def job_loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop for jobs, created on first use and kept (one per process/thread).

    Example:
        >>> job_loop() is job_loop()
        True
    """
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed() or getattr(_local, "pid", None) != os.getpid():
        loop = asyncio.new_event_loop()  # a forked child never reuses its parent's loop
        _local.loop, _local.pid, _local.owner = loop, os.getpid(), _Owner(loop)
        with _lock:
            _loops.add(loop)
    return loop


class _Owner:
    """Closes its thread's job loop when the thread's local data goes (the thread ended).

    A pool thread (or greenlet) may end long before the worker shuts down; its loop is closed
    then, not left to the garbage collector.
    """

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __del__(self) -> None:
        loop = self.loop
        if not loop.is_closed() and not loop.is_running():
            with contextlib.suppress(Exception):
                loop.close()


def close_loops() -> int:
    """Close every job loop of this process that is not running; returns how many were closed.

    Example:
        >>> close_loops() >= 0
        True
    """
    closed = 0
    with _lock:
        loops = [loop for loop in _loops if not loop.is_closed() and not loop.is_running()]
    for loop in loops:
        with contextlib.suppress(Exception):  # a loop whose thread is gone: closed all the same
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        closed += 1
    return closed


def shared_loop() -> asyncio.AbstractEventLoop | None:
    """The loop thread's loop when it runs every async job of this process, else None.

    Example:
        >>> shared_loop() is None                             # outside such a worker
        True
    """
    return _shared[0][0] if _shared else None


def start_shared_loop() -> asyncio.AbstractEventLoop:
    """Start the one loop thread that runs every async job of this process (and keep it).

    Example:
        >>> loop = start_shared_loop()                        # doctest: +SKIP
    """
    running = shared_loop()
    if running is not None:
        return running
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="activejob-async-loop", daemon=True)
    thread.start()
    _shared.append((loop, thread))
    return loop


def stop_shared_loop() -> None:
    """Stop and close the loop thread, if there is one (at worker shutdown).

    Example:
        >>> stop_shared_loop()                                # no loop thread: nothing to do
    """
    if not _shared:
        return
    loop, thread = _shared.pop()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    if not loop.is_running():
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def sync_gate() -> contextlib.AbstractContextManager[Any]:
    """What a sync job holds while it runs: with the loop thread on, one sync job at a time.

    Example:
        >>> with sync_gate():
        ...     pass
    """
    return _sync_gate if _shared else contextlib.nullcontext()
