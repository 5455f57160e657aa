"""Dead letters: list with filters, detail with payload and traceback, retry and discard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...dead_letters import DeadLetterNotFoundError, store_for
from ...dead_letters.filters import Filters, parse_when
from ...errors import ConfigurationError
from ...failures import REASONS
from .common import Fields, action, confirmed, dashboard_of, href, plural, redirect, render

LIMIT = 200
"""Dead letters listed per page view (the newest)."""
CONFIRM_SHOWN = 20
"""Entries named on a confirmation page (the count covers them all)."""
FILTERS = ("job_class", "queue_name", "error_class", "reason", "since")


def routes() -> list[Route]:
    """The dead-letter routes.

    Example:
        >>> [route.name for route in routes()]
        ['dead', 'dead_retry', 'dead_discard', 'dead_letter']
    """
    return [
        Route("/dead", _list, name="dead"),
        Route("/dead/retry", action(_retry), methods=["POST"], name="dead_retry"),
        Route("/dead/discard", action(_discard), methods=["POST"], name="dead_discard"),
        Route("/dead/{letter_id:path}", _detail, name="dead_letter"),
    ]


def parse_filters(source: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Store filters from form or query fields, and the raw values to echo back.

    Raises:
        ConfigurationError: an unknown reason or an unreadable ``since``.

    Example:
        >>> parse_filters({"reason": "exhausted", "since": ""})[0]
        {'reason': 'exhausted'}
    """
    raw = {name: str(source.get(name) or "").strip() for name in FILTERS}
    filters: dict[str, Any] = {
        name: value for name, value in raw.items() if value and name != "since"
    }
    if raw["since"]:
        filters["since"] = parse_when(raw["since"])
    Filters.build(**filters)
    return filters, raw


def _list(request: Request) -> Response:
    store = _store(request)
    error = None
    try:
        filters, raw = parse_filters(request.query_params)
    except ConfigurationError as problem:
        error, filters = str(problem), {}
        raw = {name: request.query_params.get(name, "") for name in FILTERS}
    letters = store.list(limit=LIMIT, **filters)
    matching = len(store.ids(**filters)) if filters else store.count()
    return render(
        request,
        "dead_list.html",
        active="dead",
        letters=letters,
        matching=matching,
        filtered=bool(filters),
        raw=raw,
        error=error,
        reasons=REASONS,
        limit=LIMIT,
    )


def _detail(request: Request) -> Response:
    store = _store(request)
    letter_id = request.path_params["letter_id"]
    letter = store.get(letter_id)
    if letter is None:
        try:
            full_id = store.resolve(letter_id)
        except DeadLetterNotFoundError as error:
            return render(request, "not_found.html", 404, active="dead", message=str(error))
        return redirect(request, "dead_letter", letter_id=full_id)
    return render(request, "dead_letter.html", active="dead", letter=letter)


def _retry(request: Request, fields: Fields) -> Response:
    return _act(request, fields, "retry")


def _discard(request: Request, fields: Fields) -> Response:
    return _act(request, fields, "discard")


def _act(request: Request, fields: Fields, verb: str) -> Response:
    store = _store(request)
    raw: dict[str, str] = {}
    if fields.get("scope") == "matching":
        try:
            filters, raw = parse_filters(fields)
        except ConfigurationError as error:
            return redirect(request, "dead", str(error))
        ids = list(store.ids(**filters))
        shown = store.list(limit=CONFIRM_SHOWN, **filters)
        what = "every dead letter matching the filters" if filters else "every dead letter"
    else:
        letter = store.get(fields.get("id", ""))
        ids, shown = ([letter.id], [letter]) if letter is not None else ([], [])
        what = "this dead letter"
    if not ids:
        return redirect(request, "dead", f"Nothing to {verb}: no dead letter matches.", raw)
    if not confirmed(fields):
        kept = {key: value for key, value in fields.items() if key not in ("csrf_token", "confirm")}
        run_again = "run them again" if verb == "retry" else "remove them for good"
        return render(
            request,
            "confirm.html",
            active="dead",
            heading=f"{verb.capitalize()} dead letters",
            question=(
                f"{verb.capitalize()} {what}: {plural(len(ids), 'job')}? This will {run_again}."
            ),
            items=[_line(letter) for letter in shown],
            more=max(len(ids) - len(shown), 0),
            action_href=href(request, f"dead_{verb}"),
            fields=kept,
            confirm_label=f"{verb.capitalize()} {plural(len(ids), 'job')}",
            cancel_href=href(request, "dead", raw),
            danger=verb == "discard",
        )
    if verb == "discard":
        removed = store.discard_many(ids)
        return redirect(request, "dead", f"Discarded {plural(removed, 'dead letter')}.", raw)
    result = store.retry_many(ids)
    notice = f"Retried {plural(len(result.retried), 'dead letter')}."
    if result.failed:
        letter_id, why = next(iter(result.failed.items()))
        notice += f" {len(result.failed)} not retried ({letter_id}: {why})."
    return redirect(request, "dead", notice, raw)


def _line(letter: Any) -> str:
    job = (letter.job_class or "(no job class)").rsplit(".", 1)[-1]
    message = letter.error_message if len(letter.error_message) <= 80 else letter.error_message[:79]
    return (
        f"{job} {letter.job_id or letter.id}: {letter.error_class.rsplit('.', 1)[-1]}: {message} "
        f"({letter.reason}, failed {letter.failed_at:%Y-%m-%d %H:%M:%S} UTC)"
    )


def _store(request: Request) -> Any:
    return store_for(dashboard_of(request).celery_app)
