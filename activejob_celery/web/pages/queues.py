"""The overview (counts and the last hour's chart), the queues page, and a job looked up by id."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...amqp_queues import UNKNOWN
from ...broker_queues import BUCKETS
from ...dead_letters import store_for
from ...errors import ConfigurationError
from ...scheduler import scheduled_set_for
from ...worker import pausing
from ...worker.metrics import last_hour
from ..chart import build_chart
from ..lookup import find_job
from ..queues import QueueOverview, queue_overview
from .common import Fields, action, dashboard_of, redirect, render
from .status import tracked


def routes() -> list[Route]:
    """The overview, queue and job routes.

    Example:
        >>> [route.name for route in routes()]
        ['overview', 'queues', 'queue_pause', 'queue_resume', 'job_lookup', 'job']
    """
    return [
        Route("/", _overview, name="overview"),
        Route("/queues", _queues, name="queues"),
        Route("/queues/pause", action(_pause), methods=["POST"], name="queue_pause"),
        Route("/queues/resume", action(_resume), methods=["POST"], name="queue_resume"),
        Route("/jobs", _lookup, name="job_lookup"),
        Route("/jobs/{job_id:path}", _job, name="job"),
    ]


def _overview(request: Request) -> Response:
    app = dashboard_of(request).celery_app
    overview = queue_overview(app)
    minutes = last_hour(app)
    return render(
        request,
        "overview.html",
        active="overview",
        overview=overview,
        waiting=_waiting(overview),
        paused=[row for row in overview.queues if row.paused is not None],
        scheduled=_count(_scheduled_count, app),
        dead=_count(_dead_count, app),
        chart=None if minutes is None else build_chart(minutes),
    )


def _queues(request: Request) -> Response:
    overview = queue_overview(dashboard_of(request).celery_app)
    buckets = BUCKETS if overview.buckets_known else ()
    return render(
        request, "queues.html", active="queues", overview=overview, buckets=buckets, unknown=UNKNOWN
    )


def _waiting(overview: QueueOverview) -> int | None:
    # None when no queue's depth is known: "n/a" rather than a misleading 0.
    depths = [row.depth for row in overview.queues if row.depth is not None]
    return sum(depths) if depths or not overview.queues else None


def _pause(request: Request, fields: Fields) -> Response:
    queue = fields.get("queue", "").strip()
    if not queue:
        return redirect(request, "queues", "Give a queue to pause.")
    try:
        paused = pausing.pause(dashboard_of(request).celery_app, queue)
    except ConfigurationError as error:
        return redirect(request, "queues", str(error))
    told = ", ".join(paused.workers) or "no worker is consuming it right now"
    return redirect(request, "queues", f"Paused {queue} ({told}).")


def _resume(request: Request, fields: Fields) -> Response:
    queue = fields.get("queue", "").strip()
    try:
        workers = pausing.resume(dashboard_of(request).celery_app, queue)
    except ConfigurationError as error:
        return redirect(request, "queues", str(error))
    told = ", ".join(workers) or "no worker had been consuming it"
    return redirect(request, "queues", f"Resumed {queue} ({told}).")


def _lookup(request: Request) -> Response:
    job_id = (request.query_params.get("job_id") or "").strip()
    if not job_id:
        return redirect(request, "overview", "Give a job id to look up.")
    return redirect(request, "job", job_id=job_id)


def _job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    app = dashboard_of(request).celery_app
    found = find_job(app, job_id)
    job = tracked(app, job_id)  # its status and progress, while it is kept
    status = 200 if found.found or job is not None else 404
    return render(request, "job.html", status, active="", job_id=job_id, found=found, tracked=job)


def _scheduled_count(app: Any) -> int:
    return scheduled_set_for(app).count()


def _dead_count(app: Any) -> int:
    return store_for(app).count()


def _count(counter: Any, app: Any) -> int | None:
    try:
        return int(counter(app))
    except Exception:  # a feature that is off shows "n/a" instead of breaking the page
        return None
