"""Concurrency: held slots, their holders, blocked jobs per key, and releasing a stuck slot."""

from __future__ import annotations

from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...concurrency import KeyState, store_for_app, unblock
from .common import Fields, action, dashboard_of, redirect, render

NO_REDIS = (
    "Concurrency limits and unique locks are off: they live in the scheduled set's Redis; set "
    "activejob_scheduler_url = 'redis://host:6379/0'."
)


def routes() -> list[Route]:
    """The concurrency routes.

    Example:
        >>> [route.name for route in routes()]
        ['blocked', 'blocked_release']
    """
    return [
        Route("/blocked", _list, name="blocked"),
        Route("/blocked/release", action(_release), methods=["POST"], name="blocked_release"),
    ]


def _list(request: Request) -> Response:
    store = store_for_app(dashboard_of(request).celery_app)
    states: list[KeyState] = [] if store is None else store.keys_in_use()
    keys = [
        {
            "key": state.key,
            "limit": state.limit,
            "holders": [(job_id, _moment(at)) for job_id, at in state.holders],
            "blocked": state.blocked,
        }
        for state in states
    ]
    problem = NO_REDIS if store is None else None
    return render(request, "blocked.html", active="blocked", keys=keys, problem=problem)


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def _release(request: Request, fields: Fields) -> Response:
    app = dashboard_of(request).celery_app
    store = store_for_app(app)
    key, job_id = fields.get("key", ""), fields.get("job_id", "")
    if store is None or not key or not job_id:
        return redirect(request, "blocked", "Nothing to release.")
    published = unblock(store, store.release(key, job_id), None, app=app, key=key)
    return redirect(
        request, "blocked", f"Released {job_id} from {key}; {published} blocked job(s) published."
    )
