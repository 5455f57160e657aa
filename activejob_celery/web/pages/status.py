"""A job's status and progress on its page, and its Cancel button (with a confirmation page)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...status import cancel, job_status
from .common import Fields, action, confirmed, dashboard_of, href, redirect, render

CANCELLABLE = frozenset({"scheduled", "queued", "running", "retrying", "interrupted"})
"""Statuses whose job page shows a Cancel button (the job has not ended)."""
_TIMES = ("updated_at", "started_at", "ended_at", "run_at")


logger = logging.getLogger(__name__)


def routes() -> list[Route]:
    """The cancel route (the job page itself is :mod:`.queues`'s ``job``).

    Example:
        >>> [route.name for route in routes()]
        ['job_cancel']
    """
    return [Route("/cancel", action(_cancel), methods=["POST"], name="job_cancel")]


def tracked(app: Any, job_id: str) -> dict[str, Any] | None:
    """The status of ``job_id`` for its page (times as datetimes); None when unknown or off.

    Example:
        >>> tracked(app, job.job_id)["status"]                  # doctest: +SKIP
        'running'
    """
    try:
        found = job_status(job_id, app=app)
    except Exception as problem:  # tracking off, or its Redis down: the page shows the rest
        logger.warning("No status shown for job %s: %s", job_id, problem)
        return None
    if found is None:
        return None
    for name in ("pct", "worker", "job_class", "queue", *_TIMES):
        found.setdefault(name, None)
    for name in _TIMES:
        value = found.get(name)
        if isinstance(value, float):
            found[name] = datetime.fromtimestamp(value, timezone.utc)
    found["cancellable"] = found.get("status") in CANCELLABLE
    return found


def _cancel(request: Request, fields: Fields) -> Response:
    job_id = fields.get("job_id", "").strip()
    if not job_id:
        return redirect(request, "overview", "Give a job id to cancel.")
    app = dashboard_of(request).celery_app
    if not confirmed(fields):
        found = tracked(app, job_id)
        status = found["status"] if found else "unknown"
        return render(
            request,
            "confirm.html",
            active="",
            heading="Cancel a job",
            question=f"Cancel job {job_id}? It will not start, wherever its message is.",
            items=[
                f"Status now: {status}",
                "A running job runs to its end (a Continuable job stops at its next "
                "checkpoint) and is not retried.",
            ],
            action_href=href(request, "job_cancel"),
            fields={"job_id": job_id},
            confirm_label="Cancel the job",
            cancel_href=href(request, "job", job_id=job_id),
            danger=True,
        )
    try:
        told = cancel(job_id, app=app)
    except Exception as error:
        return redirect(request, "job", f"Could not cancel {job_id}: {error}", job_id=job_id)
    before = told["status_before"] or "unknown"
    return redirect(request, "job", f"Cancelled {job_id} (status was {before}).", job_id=job_id)
