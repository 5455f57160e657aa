"""Running and Workers: the jobs running now and the workers alive (Sidekiq's Busy tab)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...running import running_jobs, store_for
from .common import dashboard_of, render

NO_REDIS = (
    "Running jobs and workers are not listed: they live in the scheduled set's Redis; set "
    "activejob_scheduler_url = 'redis://host:6379/0'."
)

EMPTY_JOB = dict.fromkeys(
    ("job_class", "job_id", "provider_job_id", "queue_name", "worker", "pid", "started_at")
)
"""What a running job's row shows, for a record that lacks some of it."""


def routes() -> list[Route]:
    """The Running and Workers routes.

    Example:
        >>> [route.name for route in routes()]
        ['running', 'workers']
    """
    return [
        Route("/running", _running, name="running"),
        Route("/workers", _workers, name="workers"),
    ]


def _running(request: Request) -> Response:
    app = dashboard_of(request).celery_app
    store = store_for(app)
    jobs = [_with_moments({**EMPTY_JOB, **job}, "started_at") for job in running_jobs(app)]
    problem = NO_REDIS if store is None else None
    return render(request, "running.html", active="running", jobs=jobs, problem=problem)


def _workers(request: Request) -> Response:
    store = store_for(dashboard_of(request).celery_app)
    found = [] if store is None else store.workers()
    workers = [_with_moments(worker, "started_at", "last_heartbeat") for worker in found]
    problem = NO_REDIS if store is None else None
    return render(request, "workers.html", active="workers", workers=workers, problem=problem)


def _with_moments(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """``record`` with each epoch-seconds field in ``names`` as a UTC datetime (None if absent)."""
    shown = dict(record)
    for name in names:
        value = record.get(name)
        shown[name] = (
            datetime.fromtimestamp(value, timezone.utc) if isinstance(value, int | float) else None
        )
    return shown
