"""Recurring entries as the dashboard shows them, and enabling or disabling one in RedBeat.

Listing and running come from :mod:`activejob_celery.recurring`. Enabling and disabling use
RedBeat's own ``enabled`` flag on the entry's definition: a disabled entry stays scheduled but
beat skips its firings until it is enabled again.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from ..recurring import recurring_tasks, run_now as run_entry
from ..worker.state import settings_of


@dataclasses.dataclass(frozen=True)
class RecurringRow:
    """One recurring entry with its timing and whether beat fires it.

    Example:
        >>> [(row.key, row.enabled) for row in recurring_rows(app)]   # doctest: +SKIP
        [('nightly', True)]
    """

    key: str
    job_class: str
    schedule: str
    queue: str | None
    priority: int | None
    description: str | None
    static: bool
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    total_run_count: int


def recurring_rows(app: Any) -> list[RecurringRow]:
    """Every recurring entry this package keeps in RedBeat, ordered by key.

    Raises:
        ImportError: celery-redbeat is not installed.

    Example:
        >>> recurring_rows(app)[0].next_run_at                  # doctest: +SKIP
        datetime.datetime(2026, 5, 2, 2, 0, tzinfo=datetime.timezone.utc)
    """
    # import here: optional extra (redbeat)
    from redbeat.schedulers import get_redis

    # import here: optional extra (redbeat)
    from ..recurring.store import redis_key

    states = recurring_tasks(app)
    prefix = settings_of(app).recurring_key_prefix
    with get_redis(app).pipeline(transaction=False) as pipe:
        for state in states:
            pipe.hget(redis_key(app, prefix, state.key), "definition")
        definitions = pipe.execute()
    rows = []
    for state, definition in zip(states, definitions, strict=True):
        spec = state.spec
        enabled = bool(json.loads(definition).get("enabled", True)) if definition else True
        rows.append(
            RecurringRow(
                key=state.key,
                job_class=str(spec.get("class", "")),
                schedule=str(spec.get("schedule", "")),
                queue=spec.get("queue"),
                priority=spec.get("priority"),
                description=spec.get("description"),
                static=state.static,
                enabled=enabled,
                next_run_at=state.next_run_at,
                last_run_at=state.last_run_at,
                total_run_count=state.total_run_count,
            )
        )
    return rows


def set_enabled(app: Any, key: str, enabled: bool) -> bool:
    """Enable or disable entry ``key`` in RedBeat; False when there is no such entry.

    Example:
        >>> set_enabled(app, "nightly", False)                  # doctest: +SKIP
        True
    """
    # import here: optional extra (redbeat)
    from ..recurring.store import RecurringEntry, redis_key

    prefix = settings_of(app).recurring_key_prefix
    try:
        entry = RecurringEntry.from_key(redis_key(app, prefix, key), app=app)
    except KeyError:
        return False
    entry.enabled = enabled
    entry.save()
    return True


def run_now(app: Any, key: str) -> Any:
    """Enqueue one run of ``key`` now (:func:`activejob_celery.recurring.run_now`).

    Example:
        >>> run_now(app, "nightly").job_id                      # doctest: +SKIP
    """
    return run_entry(key, app=app)
