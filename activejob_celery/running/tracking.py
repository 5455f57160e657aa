"""Which jobs run now: one write when a run starts, one when it ends, and the details read back.

:func:`job_started` and :func:`job_finished` are called by the job task around each run in a
worker; a Redis that cannot be reached never stops a job (the run goes on unlisted).

Example:
    >>> mark = job_started(task, job)                           # doctest: +SKIP
    >>> job_finished(mark)                                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from ..dead_letters.binding import settings_for
from ..errors import ConfigurationError
from ..runtime import drop_part, runtime_for
from ..scheduler import scheduled_set_for
from ..status.tracking import status_store_for
from .store import RunningStore

logger = logging.getLogger(__name__)

_PART = "running.store"
"""Part of the app's runtime: its :class:`RunningStore` (None without a Redis)."""
_lock = threading.Lock()
DETAIL_FIELDS = ("done", "total", "message", "step", "cursor")
"""What :func:`running_details` gives each running job (progress and continuation)."""

PAUSE_AFTER_FAILURE = 10.0
"""Seconds runs go unlisted after a write failed (a Redis that is down costs no job a timeout)."""

Mark = tuple[RunningStore, str, str]
"""What :func:`job_finished` needs: the store, the worker hostname and the task id."""

_worker_hostname: list[str] = []
"""The node name of the worker this process serves (pool processes inherit it by fork)."""


def serve_worker(hostname: str) -> None:
    """Runs are listed under ``hostname`` (the worker bootstep calls it before the pool starts).

    Example:
        >>> serve_worker("celery@web-1")                       # doctest: +SKIP
    """
    _worker_hostname[:] = [hostname]


def store_for(app: Any) -> RunningStore | None:
    """The running-jobs registry of ``app`` (the scheduled set's Redis), or None without one.

    Example:
        >>> store_for(app).workers()                            # doctest: +SKIP
        []
    """
    with _lock:
        runtime = runtime_for(app)
        if _PART in runtime.parts:
            found: RunningStore | None = runtime.parts[_PART]
            return found
    try:
        client = scheduled_set_for(app).client
    except ConfigurationError:
        store = None
    else:
        settings = settings_for(app)
        store = RunningStore(
            client, key_prefix=settings.key_prefix, interval=settings.worker_heartbeat_interval
        )
    with _lock:
        runtime_for(app).parts[_PART] = store
    return store


def forget(app: Any) -> None:
    """Drop the cached registry of ``app`` (``init_app`` ran again)."""
    with _lock:
        drop_part(app, _PART)


def job_started(task: Any, job: Any) -> Mark | None:
    """List ``job`` as running on ``task``'s worker (one write); None when not listed.

    Example:
        >>> mark = job_started(app.tasks[ExportJob.job_name], job)   # doctest: +SKIP
    """
    hostname = worker_hostname(task)
    task_id = str(task.request.id)
    store = None
    try:
        store = store_for(task.app)
        if store is None or not hostname or time.monotonic() < store.paused_until:
            return None
        store.job_started(hostname, task_id, run_record(job, hostname, task_id))
    except Exception as problem:  # listing is for people: a Redis outage stops no job
        if store is not None:  # nor slows each job down by a connect timeout
            store.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
        logger.warning(
            "Could not list job %s as running (jobs are not listed for %.0f s): %s",
            job.job_id, PAUSE_AFTER_FAILURE, problem,
        )  # fmt: skip
        return None
    return store, hostname, task_id


def worker_hostname(task: Any) -> str:
    """The hostname runs of ``task`` are listed under ("" when unknown: not listed)."""
    return _worker_hostname[0] if _worker_hostname else str(task.request.hostname or "")


def run_record(job: Any, hostname: str, task_id: str) -> dict[str, Any]:
    """What the registry holds for one run of ``job`` (see :func:`job_started`)."""
    return {
        "job_class": job.job_name,
        "job_id": job.job_id,
        "provider_job_id": task_id,
        "queue_name": job.queue_name,
        "worker": hostname,
        "pid": os.getpid(),
        "started_at": time.time(),
        "executions": job.executions,
    }


def job_finished(mark: Mark | None) -> None:
    """Remove the run ``mark`` names from the running jobs (one write)."""
    if mark is None:
        return
    store, hostname, task_id = mark
    for _ in range(2):  # an earlier write's error drops the connection: once more on a new one
        try:
            store.job_finished(hostname, task_id)
            return
        except Exception as problem:  # else it leaves with the worker's records
            logger.debug("Could not unlist task %s as running: %s", task_id, problem)


def running_details(job_ids: Iterable[str], *, app: Any = None) -> dict[str, dict[str, Any]]:
    """Progress and continuation of each running job, by job id.

    Each has ``done``, ``total``, ``message`` (from ``self.progress(...)``), ``step`` and
    ``cursor`` (a continuable job's current step, written at its checkpoints), read from the
    job status store in one round trip; None where a job has not said (or status is off).

    Example:
        >>> running_details(["0b1c..."])["0b1c..."]["step"] is None
        True
    """
    ids = list(job_ids)
    details = {job_id: dict.fromkeys(DETAIL_FIELDS) for job_id in ids}
    store = None if app is None or not ids else status_store_for(app)
    if store is None:
        return details
    try:
        found = store.read_many(ids)
    except Exception as problem:  # the page still lists the jobs, without their progress
        logger.warning("Could not read the progress of running jobs: %s", problem)
        return details
    for job_id, status in found.items():
        details[job_id].update({name: status.get(name) for name in DETAIL_FIELDS})
    return details


def running_jobs(app: Any) -> list[dict[str, Any]]:
    """The jobs running now on ``app``'s workers, with their details (empty without a registry).

    Example:
        >>> [job["job_class"] for job in running_jobs(app)]        # doctest: +SKIP
        ['ExportJob']
    """
    store = store_for(app)
    if store is None:
        return []
    jobs = store.running()
    details = running_details([str(job.get("job_id")) for job in jobs], app=app)
    return [{**job, **details.get(str(job.get("job_id")), {})} for job in jobs]
