"""Scheduled jobs (delays and retries waiting in the scheduled set): list, run now, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...broker_queues import broker_url
from ...scheduler import scheduled_set_for
from ...worker.state import settings_of
from .common import Fields, action, confirmed, dashboard_of, href, redirect, render

LIMIT = 200
"""Jobs listed per page view (the soonest ones)."""


def routes() -> list[Route]:
    """The scheduled-job routes.

    Example:
        >>> [route.name for route in routes()]
        ['scheduled', 'scheduled_run', 'scheduled_delete']
    """
    return [
        Route("/scheduled", _list, name="scheduled"),
        Route("/scheduled/run", action(_run), methods=["POST"], name="scheduled_run"),
        Route("/scheduled/delete", action(_delete), methods=["POST"], name="scheduled_delete"),
    ]


def _list(request: Request) -> Response:
    app = dashboard_of(request).celery_app
    queue = request.query_params.get("queue") or None
    job_class = request.query_params.get("job_class") or None
    problem = _eta_note(app)
    jobs: list[Any] = []
    total = None
    if problem is None:
        scheduled = _scheduled_set(app)
        jobs = scheduled.list(limit=LIMIT, queue=queue, job_class=job_class)
        total = scheduled.count()
    return render(
        request,
        "scheduled.html",
        active="scheduled",
        jobs=jobs,
        total=total,
        limit=LIMIT,
        problem=problem,
        filters={"queue": queue or "", "job_class": job_class or ""},
    )


def _run(request: Request, fields: Fields) -> Response:
    job_id = fields.get("job_id", "")
    released = _scheduled_set(dashboard_of(request).celery_app).run_now(job_id)
    notice = (
        f"Enqueued {job_id} now."
        if released
        else f"{job_id} is not waiting any more (it ran, or a poller is releasing it)."
    )
    return redirect(request, "scheduled", notice)


def _delete(request: Request, fields: Fields) -> Response:
    job_id = fields.get("job_id", "")
    scheduled = _scheduled_set(dashboard_of(request).celery_app)
    if not confirmed(fields):
        job = scheduled.get(job_id)
        if job is None:
            return redirect(request, "scheduled", f"{job_id} is not scheduled any more.")
        return render(
            request,
            "confirm.html",
            active="scheduled",
            heading="Delete a scheduled job",
            question=f"Delete scheduled job {job.class_name} ({job_id})? It will not run.",
            items=[f"{job.job_class} on {job.queue_name}, due {job.run_at:%Y-%m-%d %H:%M:%S} UTC"],
            action_href=href(request, "scheduled_delete"),
            fields={"job_id": job_id},
            confirm_label="Delete it",
            cancel_href=href(request, "scheduled"),
            danger=True,
        )
    removed = scheduled.delete(job_id)
    entries = "entry" if removed == 1 else "entries"
    return redirect(request, "scheduled", f"Deleted {removed} scheduled {entries} of {job_id}.")


def _scheduled_set(app: Any) -> Any:
    return scheduled_set_for(app)


def _eta_note(app: Any) -> str | None:
    if settings_of(app).resolved_scheduler(broker_url(app)) == "redis":
        return None
    return (
        "activejob_scheduler is 'celery': delayed jobs are Celery ETA messages held by "
        "workers, not entries of the scheduled set, so there is nothing to list here."
    )
