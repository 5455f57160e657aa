"""Recurring entries: schedule, next and last run, run now, enable and disable."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import ActiveJobError
from .. import recurring_view
from .common import Fields, action, dashboard_of, redirect, render


def routes() -> list[Route]:
    """The recurring-entry routes.

    Example:
        >>> [route.name for route in routes()]
        ['recurring', 'recurring_run', 'recurring_toggle']
    """
    return [
        Route("/recurring", _list, name="recurring"),
        Route("/recurring/run", action(_run), methods=["POST"], name="recurring_run"),
        Route("/recurring/toggle", action(_toggle), methods=["POST"], name="recurring_toggle"),
    ]


def _list(request: Request) -> Response:
    app = dashboard_of(request).celery_app
    problem = None
    rows: list[recurring_view.RecurringRow] = []
    try:
        rows = recurring_view.recurring_rows(app)
    except ImportError:
        problem = "celery-redbeat is not installed: pip install 'activejob-celery[redbeat]'."
    return render(request, "recurring.html", active="recurring", rows=rows, problem=problem)


def _run(request: Request, fields: Fields) -> Response:
    key = fields.get("key", "")
    try:
        job = recurring_view.run_now(dashboard_of(request).celery_app, key)
    except (ActiveJobError, LookupError) as error:
        return redirect(request, "recurring", f"{key} did not run: {error}")
    if job is False:
        return redirect(request, "recurring", f"{key}: a before_enqueue callback halted the run.")
    return redirect(request, "recurring", f"Enqueued {key}: {job.job_name} (Job ID: {job.job_id}).")


def _toggle(request: Request, fields: Fields) -> Response:
    key = fields.get("key", "")
    enabled = fields.get("enabled") == "1"
    if not recurring_view.set_enabled(dashboard_of(request).celery_app, key, enabled):
        return redirect(request, "recurring", f"No recurring entry {key}.")
    state = "enabled" if enabled else "disabled: beat skips it until it is enabled"
    return redirect(request, "recurring", f"{key} is {state}.")
