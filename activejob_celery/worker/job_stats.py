"""Statistics per job class, counted where jobs are enqueued and run, kept in fixed Redis buckets.

Per job class: ``enqueued``, ``performed``, ``retried``, ``discarded`` and ``dead`` counts, and a
histogram of run durations (:data:`BOUNDS`). Counting is the in-process tally of
:mod:`activejob_celery.worker.metrics`: no network call on a job's path, one pipeline a second per
process. Two series of hashes hold the sums:

- ``<key_prefix>:stats:m:<epoch minute>`` (the last hour), kept :data:`MINUTE_TTL` seconds;
- ``<key_prefix>:stats:q:<epoch quarter hour>`` (the last day), kept :data:`QUARTER_TTL` seconds.

A field is ``<job class>|<counter>`` or ``<job class>|d<histogram bucket>``, so memory is bounded:
at most 66 + 99 keys, each with at most ``5 + len(BOUNDS) + 1`` fields per job class, and job
classes are the registered ones (a failed message naming no registered class counts as
``(unknown)``). What each counter means:

- ``enqueued``: accepted by the broker in the process that enqueued it (``perform_later``,
  ``set(...).perform_later``, ``perform_all_later``, recurring runs); a job to run later counts
  when it is scheduled, not when it is released. Retries count as ``retried``, not here.
- ``performed``: a worker run that finished without an error left (handled errors that neither
  retried nor discarded the job, and runs halted by a callback, included).
- ``retried``: a run whose error ``retry_on`` (or ``retry_job``) enqueued again.
- ``discarded``: a run that ``discard_on`` / ``discard_job`` dropped, or whose ``retry_on`` ran
  out of attempts and ran its block.
- ``dead``: a job that failed for good (what the dead-letter store records, counted even when
  the store is off).

Durations are those of every worker run, whatever its outcome. ``perform_now`` outside a worker
counts nothing.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from .. import failures, registry, signals
from ..config import Settings
from ..dead_letters.binding import running_task
from ..runtime import part_of, runtime_for
from . import metrics

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
"""Upper edges (seconds) of the duration histogram; the last bucket holds longer runs."""
COUNTERS = ("enqueued", "performed", "retried", "discarded", "dead")
"""The counters kept per job class (what each counts: the module docstring)."""
MINUTE_TTL = 65 * 60
"""Seconds a minute's hash is kept: the hour's 60, five to spare for clock skew."""
QUARTER = 15 * 60
"""Seconds per bucket of the day's series."""
QUARTER_TTL = 24 * 3600 + 30 * 60
"""Seconds a quarter hour's hash is kept: the day's 96, two to spare."""
UNKNOWN_CLASS = "(unknown)"
"""The class a failed message is counted under when it names no registered job class."""

_PART = "worker.job_stats"
"""The key prefix of the app's counters, a part of its runtime (set by :func:`setup`)."""
_UID = "activejob.web.job_stats"


def setup(app: Any, settings: Settings) -> None:
    """Count ``app``'s jobs per class (signal receivers and a failure recorder; idempotent).

    Example:
        >>> setup(app, Settings.from_app(app))                  # doctest: +SKIP
    """
    runtime_for(app).parts[_PART] = settings.key("stats")
    signals.enqueue.connect(_on_enqueue, weak=False, dispatch_uid=_UID)
    signals.enqueue_at.connect(_on_enqueue, weak=False, dispatch_uid=_UID)
    signals.enqueue_all.connect(_on_enqueue_all, weak=False, dispatch_uid=_UID)
    signals.perform.connect(_on_perform, weak=False, dispatch_uid=_UID)
    failures.add_failure_recorder(_on_failure)


def prefix_of(app: Any) -> str | None:
    """The key prefix of ``app``'s statistics hashes, or None when ``app`` is not counted here.

    Example:
        >>> prefix_of(app)                                      # doctest: +SKIP
        'activejob:stats'
    """
    prefix = part_of(app, _PART)
    return prefix if isinstance(prefix, str) else None


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a run that took ``seconds``: the first edge it does not pass.

    Example:
        >>> bucket_of(0.3), bucket_of(0.5), bucket_of(5000.0)
        (6, 6, 15)
    """
    return bisect.bisect_left(BOUNDS, seconds)


def keys_at(prefix: str, now: float) -> tuple[tuple[str, int], tuple[str, int]]:
    """The minute and quarter-hour hashes (with their TTLs) that ``now`` counts into.

    Example:
        >>> keys_at("activejob:stats", 900.0)
        (('activejob:stats:m:15', 3900), ('activejob:stats:q:1', 88200))
    """
    return (
        (f"{prefix}:m:{int(now // 60)}", MINUTE_TTL),
        (f"{prefix}:q:{int(now // QUARTER)}", QUARTER_TTL),
    )


def record(
    app: Any,
    job_class: str,
    counter: str | None,
    *,
    duration: float | None = None,
    now: float | None = None,
) -> None:
    """Count one ``counter`` (and a run of ``duration`` seconds) for ``job_class``, in memory.

    Example:
        >>> record(app, "shop.jobs.ReceiptJob", "performed", duration=0.3)  # doctest: +SKIP
    """
    prefix = None if app is None else part_of(app, _PART)  # None: an adapter with no Celery app
    if prefix is None:
        return
    fields = [] if counter is None else [f"{job_class}|{counter}"]
    if duration is not None:
        fields.append(f"{job_class}|d{bucket_of(duration)}")
    metrics.tally(app, keys_at(prefix, time.time() if now is None else now), fields)


def _on_enqueue(
    sender: Any, job: Any, adapter: Any, exception: BaseException | None = None, **_: Any
) -> None:
    # executions > 0: retry_job re-enqueuing a run's job, counted as "retried" by that run
    if exception is None and job.successfully_enqueued and not job.executions:
        record(getattr(adapter, "app", None), job.job_name, "enqueued")


def _on_enqueue_all(sender: Any, jobs: list[Any], adapter: Any, **_: Any) -> None:
    app = getattr(adapter, "app", None)
    prefix = prefix_of(app) if app is not None else None
    if prefix is not None:  # one tally per job class, not per job (bulk enqueues are hot)
        counts: dict[str, int] = {}
        for job in jobs:
            if job.successfully_enqueued:
                counts[job.job_name] = counts.get(job.job_name, 0) + 1
        keys = keys_at(prefix, time.time())
        for job_class, count in counts.items():
            metrics.tally(app, keys, [f"{job_class}|enqueued"], by=count)


def _on_perform(
    sender: Any, job: Any, duration: float, exception: BaseException | None = None, **_: Any
) -> None:
    task = running_task()
    prefix = None if task is None else part_of(task.app, _PART)
    if prefix is None:
        return
    counter: str | None = None  # an error left the run: the failure recorder counts it dead
    if exception is None:
        if job.failure_reason in ("discarded", "exhausted"):
            counter = "discarded"
        elif job.successfully_enqueued:  # retry_on (or retry_job) enqueued this job again
            counter = "retried"
        else:
            counter = "performed"
    name = job.job_name  # as ``record`` does, the prefix looked up once
    fields = [f"{name}|d{bucket_of(duration / 1000.0)}"]
    if counter is not None:
        fields.insert(0, f"{name}|{counter}")
    metrics.tally(task.app, keys_at(prefix, time.time()), fields)


def _on_failure(payload: Any, error: BaseException, *, reason: str, job: Any) -> None:
    task = running_task()
    if task is None or part_of(task.app, _PART) is None:
        return
    if job is not None:
        name = job.job_name
    else:  # an unknown class or a malformed message: only registered names, memory stays bounded
        named = payload.get("job_class") if isinstance(payload, dict) else None
        name = named if isinstance(named, str) and _registered(named) else UNKNOWN_CLASS
    record(task.app, name, "dead")


def _registered(name: str) -> bool:
    try:
        registry.lookup(name)
    except Exception:  # not a registered job class name
        return False
    return True
