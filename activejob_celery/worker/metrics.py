"""Per-minute job counters in Redis, written by workers and read by the dashboard's chart.

Counting a job costs no network call: the ``signals.perform`` receiver adds one to an
in-process tally, and a daemon thread per process writes the tallies every second in one
pipeline (``HINCRBY`` per minute and field, ``EXPIRE``) to the hash
``<key_prefix>:metrics:<epoch minute>``. Fields are ``performed`` (no error escaped ``perform``)
and ``failed`` (an error escaped: the Celery task failed). A process that dies loses at most
its last second of counts; a worker shutting down (or any process exiting) writes what it
holds. :func:`tally` is the same path for other counters (the per-class statistics of
:mod:`activejob_celery.worker.job_stats`): one pipeline a second per process, whatever the job rate.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from celery.signals import worker_process_shutdown, worker_shutdown

from .. import signals
from ..config import Settings
from ..dead_letters.binding import running_task
from ..runtime import part_of, runtime_for
from .state import redis_for, settings_of

logger = logging.getLogger(__name__)

RETENTION = 2 * 3600
"""Seconds a minute's counters are kept: the chart shows one hour, with room for clock skew."""
FLUSH_INTERVAL = 1.0
"""Seconds between writes of the tallies to Redis."""
FIELDS = ("performed", "failed")

_PART = "worker.metrics"
"""The key prefix of the app's counters, a part of its runtime (set by :func:`setup`)."""
_lock = threading.Lock()
_pending: dict[tuple[Any, str], tuple[int, dict[str, int]]] = {}
"""(app, key) -> (TTL in seconds, field -> count to add)."""


class _Owner:
    """Which process the tally belongs to, its flusher thread, and whether writes are failing."""

    pid = os.getpid()
    thread: threading.Thread | None = None
    failing = False


@dataclasses.dataclass(frozen=True)
class Minute:
    """The counters of one minute.

    Example:
        >>> Minute(datetime(2026, 1, 1, tzinfo=timezone.utc), performed=12, failed=1).total
        13
    """

    start: datetime
    performed: int
    failed: int

    @property
    def total(self) -> int:
        """Jobs that ran in this minute."""
        return self.performed + self.failed


def setup(app: Any, settings: Settings) -> None:
    """Count the jobs ``app``'s workers perform (connects one ``signals.perform`` receiver).

    Example:
        >>> setup(app, Settings.from_app(app))                  # doctest: +SKIP
    """
    runtime_for(app).parts[_PART] = settings.key("metrics")
    signals.perform.connect(record_perform, weak=False, dispatch_uid="activejob.web.metrics")
    for shutdown in (worker_process_shutdown, worker_shutdown):
        shutdown.connect(_flush_on_shutdown, weak=False, dispatch_uid="activejob.web.metrics")
    atexit.unregister(flush)  # once per process: a script that enqueued and exits keeps its counts
    atexit.register(flush)


def record_perform(sender: Any, exception: BaseException | None = None, **_: Any) -> None:
    """The ``signals.perform`` receiver: count the job when a worker of a set-up app ran it.

    Example:
        >>> signals.perform.connect(record_perform)            # doctest: +SKIP
    """
    task = running_task()
    if task is None:  # perform_now outside a worker (tests, scripts) is not worker throughput
        return
    app = task.app
    prefix = part_of(app, _PART)
    if prefix is not None:  # as ``record`` does, the prefix looked up once
        key = f"{prefix}:{int(time.time() // 60)}"
        tally(app, ((key, RETENTION),), (FIELDS[0] if exception is None else FIELDS[1],))


def record(app: Any, *, failed: bool, now: float | None = None) -> None:
    """Add one job to the minute ``now`` (default: the current one); written within a second.

    Example:
        >>> record(app, failed=False)                           # doctest: +SKIP
    """
    prefix = part_of(app, _PART)
    if prefix is None:
        return
    key = f"{prefix}:{int((time.time() if now is None else now) // 60)}"
    tally(app, ((key, RETENTION),), (FIELDS[1] if failed else FIELDS[0],))


def tally(app: Any, keys: Iterable[tuple[str, int]], fields: Iterable[str], *, by: int = 1) -> None:
    """Add ``by`` to each of ``fields`` in each hash of ``keys`` (``(key, ttl)`` pairs), in memory.

    The flusher thread writes the sums within a second (``HINCRBY`` and ``EXPIRE`` in one
    pipeline); nothing here touches the network.

    Example:
        >>> tally(app, [("activejob:stats:m:29000000", 3900)], ["a.Job|dead"])  # doctest: +SKIP
    """
    fields = tuple(fields)
    with _lock:
        if _Owner.pid != os.getpid():  # a forked child: the parent's tally and thread are not ours
            _pending.clear()
            _Owner.pid, _Owner.thread = os.getpid(), None
        for key, ttl in keys:
            counts = _pending.setdefault((app, key), (ttl, {}))[1]
            for field in fields:
                counts[field] = counts.get(field, 0) + by
        if _Owner.thread is None:
            _Owner.thread = threading.Thread(
                target=_flush_forever, name="activejob-counters", daemon=True
            )
            _Owner.thread.start()


def flush() -> None:
    """Write the pending tallies now (the flusher thread does this every second); never raises.

    Example:
        >>> flush()                                             # doctest: +SKIP
    """
    with _lock:
        if _Owner.pid != os.getpid():  # a forked child: what it holds was counted by the parent
            _pending.clear()
            _Owner.pid, _Owner.thread = os.getpid(), None
        pending = dict(_pending)
        _pending.clear()
    by_app: dict[Any, list[tuple[str, int, dict[str, int]]]] = {}
    for (app, key), (ttl, counts) in pending.items():
        by_app.setdefault(app, []).append((key, ttl, counts))
    for app, entries in by_app.items():
        try:
            client = redis_for(app)
            if client is None:
                continue
            with client.pipeline(transaction=False) as pipe:
                for key, ttl, counts in entries:
                    for field, count in counts.items():
                        pipe.hincrby(key, field, count)
                    pipe.expire(key, ttl)
                pipe.execute()
        except Exception as error:  # counts are dropped: a chart is never worth a stuck worker
            if not _Owner.failing:
                logger.warning("Could not write job counters (retrying every second): %s", error)
            _Owner.failing = True
        else:
            _Owner.failing = False


def last_hour(app: Any, *, minutes: int = 60, now: float | None = None) -> list[Minute] | None:
    """The counters of the last ``minutes`` minutes, oldest first; None without a Redis.

    Example:
        >>> sum(minute.failed for minute in last_hour(app))     # doctest: +SKIP
        3
    """
    client = redis_for(app)
    if client is None:
        return None
    prefix = part_of(app, _PART) or settings_of(app).key("metrics")
    current = int((time.time() if now is None else now) // 60)
    epochs = list(range(current - minutes + 1, current + 1))
    with client.pipeline(transaction=False) as pipe:
        for epoch in epochs:
            pipe.hmget(f"{prefix}:{epoch}", list(FIELDS))
        replies = pipe.execute()
    return [
        Minute(
            start=datetime.fromtimestamp(epoch * 60, timezone.utc),
            performed=int(performed or 0),
            failed=int(failed or 0),
        )
        for epoch, (performed, failed) in zip(epochs, replies, strict=True)
    ]


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL)
        if _pending:
            flush()


def _flush_on_shutdown(**_: Any) -> None:
    flush()


def _after_fork_in_child() -> None:
    # A fork while the flusher held the lock would leave the child's copy locked for good (the
    # embedded beat of ``worker -B`` enqueues, so counts, in such a child): start afresh.
    global _lock
    _lock = threading.Lock()
    _pending.clear()
    _Owner.pid, _Owner.thread = os.getpid(), None


os.register_at_fork(after_in_child=_after_fork_in_child)
