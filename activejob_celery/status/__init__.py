"""Job status, progress and cancel: ``job_status(job_id)``, ``cancel(job_id)``, ``is_cancelled``.

Each job's status lives in the scheduled set's Redis from its enqueue until
``activejob_status_ttl`` seconds after its end; a cancel is a flag there, so a worker that was
down when it was said still honours it.

Example:
    >>> import activejob_celery
    >>> activejob_celery.job_status(job.job_id)                # doctest: +SKIP
    {'status': 'running', 'done': 50, 'total': 200, 'message': 'Parsing', ...}
    >>> activejob_celery.cancel(job.job_id)                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..adapters import named_adapter
from ..adapters.celery import CeleryAdapter
from ..errors import ConfigurationError
from ..parts_off import part_off, part_on
from ..scheduler import scheduled_set_for
from .store import STATUSES, StatusStore
from .tracking import forget, status_store_for

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "STATUSES",
    "StatusStore",
    "cancel",
    "is_cancelled",
    "job_status",
    "setup",
    "status_store_for",
]

logger = logging.getLogger("activejob_celery.status")

JOB_STATUS = "job status"
"""The part (:mod:`activejob_celery.parts_off`) a worker warns about when it has no Redis."""
OFF_REASON = (
    "job status, progress and cancel need the scheduled set's Redis: set "
    "activejob_scheduler_url = 'redis://host:6379/0' (a Redis broker also works)"
)
CACHE_SECONDS = 1.0
"""How long :func:`is_cancelled` trusts a flag it read (a cancel is seen within a second)."""
_CACHE_MAX = 10_000
_seen: dict[str, tuple[float, bool]] = {}


def setup(app: Any, settings: Settings) -> None:
    """Turn status tracking on for ``app`` (called by ``init_app``); off with one WARNING.

    Example:
        >>> activejob_celery.status.setup(app, settings)       # doctest: +SKIP
    """
    forget(app)
    adapter = named_adapter("celery")
    if isinstance(adapter, CeleryAdapter) and adapter.app is app:
        adapter.status = None
    if not settings.track_status:
        part_on(app, JOB_STATUS)
        return
    try:
        scheduled = scheduled_set_for(app)
    except ConfigurationError:
        part_off(app, JOB_STATUS, OFF_REASON)  # said once, when a worker starts
        return
    part_on(app, JOB_STATUS)
    store = status_store_for(app)
    scheduled.adapter.status = store
    if isinstance(adapter, CeleryAdapter) and adapter.app is app:
        adapter.status = store  # enqueues write the jobs' status


def job_status(job_id: str, *, app: Any = None) -> dict[str, Any] | None:
    """The status of a job: ``status``, ``done``, ``total``, ``message``, ``updated_at``.

    Also, when known: ``pct``, ``job_class``, ``queue``, ``worker``, ``started_at``,
    ``ended_at``, ``run_at`` (times are Unix seconds). None for an unknown (or expired) id.

    Raises:
        ConfigurationError: status tracking is off for the app (``activejob_track_status``,
            or no Redis).

    Example:
        >>> job_status(job.job_id)["status"]                   # doctest: +SKIP
        'queued'
    """
    return _store(app).read(job_id)


def cancel(job_id: str, *, app: Any = None) -> dict[str, Any]:
    """Cancel a job: it does not start, wherever its message is; returns what was done.

    Sets the job's persistent cancel flag and removes it from the scheduled set. A job not
    started yet is ``cancelled`` at once; a running one runs to its end (a Continuable job
    stops at its next checkpoint) and is not retried.

    Returns:
        ``{"job_id", "status_before", "unscheduled"}``: the status the job had (None when
        unknown) and how many scheduled entries were removed.

    Example:
        >>> cancel(job.job_id)                                  # doctest: +SKIP
        {'job_id': '0b1c...', 'status_before': 'scheduled', 'unscheduled': 1}
    """
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValueError(f"cancel needs a job id, got {job_id!r}")
    app = _app(app)
    store = _store(app)
    before = store.cancel(job_id)
    unscheduled = int(scheduled_set_for(app).delete(job_id))
    _seen[job_id] = (time.monotonic(), True)
    logger.info(
        "Cancelled job %s (status was %s%s)",
        job_id, before or "unknown", f"; removed {unscheduled} scheduled entry" if unscheduled
        else "",
    )  # fmt: skip
    return {"job_id": job_id, "status_before": before, "unscheduled": unscheduled}


def is_cancelled(job_id: str, *, app: Any = None) -> bool:
    """Whether ``job_id`` was cancelled; reads Redis at most once a second per job id.

    Cheap enough for a loop's every turn (a continuation's checkpoint).

    Example:
        >>> if is_cancelled(self.job_id): return               # doctest: +SKIP
    """
    now = time.monotonic()
    seen = _seen.get(job_id)
    if seen is not None and (seen[1] or now - seen[0] < CACHE_SECONDS):
        return seen[1]
    store = status_store_for(_app(app))
    cancelled = store.is_cancelled(job_id) if store is not None else False
    if len(_seen) >= _CACHE_MAX:
        _seen.clear()
    _seen[job_id] = (now, cancelled)
    return cancelled


def _app(app: Any) -> Any:
    if app is not None:
        return app
    adapter = named_adapter("celery")
    if not isinstance(adapter, CeleryAdapter):
        raise ConfigurationError("call activejob_celery.init_app(app) first (or pass app=)")
    return adapter.app


def _store(app: Any) -> StatusStore:
    store = status_store_for(_app(app))
    if store is None:
        raise ConfigurationError(
            "job status is off for this app: set activejob_track_status = True and give it a "
            "Redis (activejob_scheduler_url, or a Redis broker)"
        )
    return store
