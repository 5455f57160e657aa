"""Seeing what runs now: a registry in Redis of live workers and of the jobs running on them.

Workers list themselves (hostname, pool, concurrency, queues, busy slots, heartbeat) through
the :class:`WorkerRegistry` bootstep, and each job run is listed from its start to its end.
``celery -A app jobs running`` / ``jobs workers`` and the dashboard's Running and Workers pages
read it. It lives in the scheduled set's Redis; without one it is off, with one WARNING at
worker start naming ``activejob_scheduler_url``.

Example:
    >>> from activejob_celery.running import running_jobs, store_for
    >>> [job["job_class"] for job in running_jobs(app)]        # doctest: +SKIP
    ['ExportJob']
    >>> [worker["hostname"] for worker in store_for(app).workers()]  # doctest: +SKIP
    ['celery@web-1']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..broker_queues import broker_url, is_redis_url
from ..parts_off import part_off, part_on
from .heartbeat import Heartbeat, WorkerRegistry, pool_name
from .store import RunningStore
from .tracking import (
    DETAIL_FIELDS,
    forget,
    job_finished,
    job_started,
    running_details,
    running_jobs,
    store_for,
)

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "DETAIL_FIELDS",
    "Heartbeat",
    "RunningStore",
    "WorkerRegistry",
    "job_finished",
    "job_started",
    "pool_name",
    "running_details",
    "running_jobs",
    "setup",
    "store_for",
]

PART = "running jobs and workers"
"""The part (:mod:`activejob_celery.parts_off`) a worker warns about when there is no Redis."""
OFF_REASON = (
    "set activejob_scheduler_url = 'redis://host:6379/0' (the broker is not Redis); running "
    "jobs and workers (jobs running, jobs workers, the dashboard's Running and Workers pages) "
    "are kept there"
)
"""Why the registry is off, and the setting that turns it on."""


def setup(app: Any, settings: Settings) -> None:
    """Add the worker bootstep when the scheduled set's Redis is there (called by ``init_app``).

    Example:
        >>> setup(app, Settings.from_app(app))                 # doctest: +SKIP
    """
    forget(app)
    steps = app.steps["worker"]
    if settings.scheduler_url is None and not is_redis_url(broker_url(app)):
        steps.discard(WorkerRegistry)
        part_off(app, PART, OFF_REASON)
        return
    part_on(app, PART)
    steps.add(WorkerRegistry)
