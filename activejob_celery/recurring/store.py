"""RedBeat storage: our entries under a key prefix, with their spec, reconciled and listed."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from redbeat.decoder import RedBeatJSONDecoder, RedBeatJSONEncoder, from_timestamp
from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf, get_redis

from ..errors import ConfigurationError
from ..queue_name import queue_name_from_part
from .config import RecurringJob
from .crontabs import ZonedCrontab
from .schedules import next_run_after, parse_schedule

logger = logging.getLogger(__name__)

TASK_NAME = "activejob_celery.recurring.enqueue"
SPEC_FIELD = "activejob"
"""Hash field, next to RedBeat's ``definition`` and ``meta``, holding the entry's JSON spec."""


class RecurringEntry(RedBeatSchedulerEntry):  # type: ignore[misc]
    """RedBeat's entry, taught our schedules: per-entry time zones and exact next-run scores.

    RedBeat stores a crontab without its time zone, so for our entries the schedule is rebuilt
    from the stored spec whenever an entry is loaded; ``due_at`` is the real next run (RedBeat's
    own adds a from-now delta to ``last_run_at``, sibson/redbeat#307). Other entries behave
    exactly as RedBeat's.

    Example:
        >>> scheduler.Entry = RecurringEntry      # done by the beat_init receiver  # doctest: +SKIP
    """

    @classmethod
    def from_key(cls, key: str, app: Any = None) -> RecurringEntry:
        """Load an entry; ours get their schedule from the spec stored beside it."""
        entry: RecurringEntry = super().from_key(key, app=app)
        raw = get_redis(app).hget(key, SPEC_FIELD) if entry.task == TASK_NAME else None
        if raw:
            try:
                entry.schedule = parse_schedule(json.loads(raw)["schedule"]).celery_schedule(app)
            except (ValueError, KeyError, TypeError):
                logger.exception("Recurring entry %s has an unreadable spec; using RedBeat's", key)
        return entry

    @property
    def due_at(self) -> datetime | None:
        """When the entry runs next (now if it never ran)."""
        ours = isinstance(self.schedule, ZonedCrontab) or self.task == TASK_NAME
        if not ours or self.last_run_at is None:
            return super().due_at  # type: ignore[no-any-return]
        return next_run_after(self.schedule, self.last_run_at)


@dataclass
class RecurringTaskState:
    """One of our RedBeat entries as stored: its spec and its RedBeat timing.

    Example:
        >>> [state.key for state in recurring_tasks(app)]             # doctest: +SKIP
        ['cleanup_old_sessions', 'weekly_digest']
    """

    key: str
    spec: dict[str, Any]
    next_run_at: datetime | None
    last_run_at: datetime | None
    total_run_count: int = 0

    @property
    def static(self) -> bool:
        """True for entries from the configuration, False for runtime ones."""
        return bool(self.spec.get("static", True))


@dataclass
class SyncResult:
    """What a reconciliation changed, by entry key.

    Example:
        >>> sync(app)                                                  # doctest: +SKIP
        SyncResult(added=['tick'], updated=[], removed=['old'], unchanged=['nightly'])
    """

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def redis_key(app: Any, prefix: str, key: str) -> str:
    """The RedBeat hash key of entry ``key``: ``<redbeat prefix><our prefix><key>``."""
    ensure_conf(app)
    return str(RedBeatSchedulerEntry.generate_key(app, prefix + key))


def trigger_queue(job: RecurringJob) -> str:
    """The queue the firing message goes to: where the job itself goes (statically)."""
    source = job.job_class._queue_name_source
    return queue_name_from_part(job.queue or (source if isinstance(source, str) else None))


def save(app: Any, prefix: str, job: RecurringJob, now: datetime | None = None) -> str:
    """Add or update one entry; returns ``"added"``, ``"updated"`` or ``"unchanged"``.

    A new entry's ``last_run_at`` is now, so it first runs at its next scheduled time rather
    than on the next tick (sibson/redbeat#154), or ``first_in`` from now for an interval that
    has one; an existing entry keeps its run history and its ``enabled`` flag.
    """
    key = redis_key(app, prefix, job.key)
    client = get_redis(app)
    with client.pipeline() as pipe:
        pipe.hget(key, SPEC_FIELD)
        pipe.hget(key, "meta")
        pipe.zscore(app.redbeat_conf.schedule_key, key)
        pipe.hget(key, "definition")
        stored_spec, stored_meta, score, stored_definition = pipe.execute()
    # An entry someone disabled (dashboard, RedBeat API) stays disabled across syncs.
    enabled = (
        bool(json.loads(stored_definition).get("enabled", True)) if stored_definition else True
    )
    spec = job.to_spec()
    options = {"queue": trigger_queue(job)}
    entry = RecurringEntry(
        name=prefix + job.key,
        task=TASK_NAME,
        schedule=job.schedule.celery_schedule(app),
        args=[job.key],
        kwargs={},
        options=options,
        enabled=enabled,
        app=app,
    )
    meta = RedBeatSchedulerEntry.decode_meta(stored_meta)
    entry.last_run_at = meta.get("last_run_at") or _created(job, now or datetime.now(timezone.utc))
    old = json.loads(stored_spec) if stored_spec else None
    with client.pipeline() as pipe:
        pipe.hset(key, SPEC_FIELD, json.dumps(spec, sort_keys=True))
        if meta.get("last_run_at") is None:
            # RedBeat only writes meta when absent; a meta without a time would be due now.
            meta["last_run_at"] = entry.last_run_at
            pipe.hset(key, "meta", json.dumps(meta, cls=RedBeatJSONEncoder))
        pipe.execute()
    entry.save()
    if old is None:
        return "added"
    return "unchanged" if old == spec and score is not None else "updated"


def _created(job: RecurringJob, now: datetime) -> datetime:
    """A new entry's ``last_run_at``: now, or as if it ran so that it runs ``first_in`` from now."""
    if job.first_in is None or job.schedule.every is None:
        return now
    return now + timedelta(seconds=job.first_in - job.schedule.every)


def delete(app: Any, redis_key_: str) -> None:
    """Remove an entry: its schedule slot, then its hash (definition, meta and spec)."""
    with get_redis(app).pipeline() as pipe:
        pipe.zrem(app.redbeat_conf.schedule_key, redis_key_)
        pipe.delete(redis_key_)
        pipe.execute()


def owned_keys(app: Any, prefix: str) -> list[str]:
    """Every RedBeat hash key under our prefix, scheduled or not (sorted)."""
    ensure_conf(app)
    start = app.redbeat_conf.key_prefix + prefix
    client = get_redis(app)
    keys = {
        key for key in client.zrange(app.redbeat_conf.schedule_key, 0, -1) if key.startswith(start)
    }
    pattern = "".join("\\" + char if char in "*?[]\\" else char for char in start) + "*"
    keys.update(client.scan_iter(match=pattern, count=1000))
    return sorted(keys)


def sync(app: Any, prefix: str, jobs: list[RecurringJob]) -> SyncResult:
    """Make RedBeat hold exactly ``jobs`` as static entries; runtime entries are kept.

    Only hashes under our prefix are touched: other RedBeat entries are never read or written.
    """
    result = SyncResult()
    wanted = {redis_key(app, prefix, job.key): job for job in jobs}
    now = datetime.now(timezone.utc)
    for job in jobs:
        getattr(result, save(app, prefix, job, now)).append(job.key)
    client = get_redis(app)
    for key in owned_keys(app, prefix):
        if key in wanted:
            continue
        raw = client.hget(key, SPEC_FIELD)
        spec = json.loads(raw) if raw else {}
        if spec.get("static", True):  # entries without a spec are orphans under our prefix
            delete(app, key)
            result.removed.append(key[len(app.redbeat_conf.key_prefix + prefix) :])
    return result


def read_spec(app: Any, prefix: str, key: str) -> dict[str, Any] | None:
    """The stored spec of entry ``key``, or None when it is not scheduled."""
    raw = get_redis(app).hget(redis_key(app, prefix, key), SPEC_FIELD)
    return json.loads(raw) if raw else None


def states(app: Any, prefix: str) -> list[RecurringTaskState]:
    """Our entries with their next and last run, ordered by key."""
    owned = owned_keys(app, prefix)
    start = len(app.redbeat_conf.key_prefix + prefix)
    client = get_redis(app)
    with client.pipeline() as pipe:
        for key in owned:
            pipe.hget(key, SPEC_FIELD)
            pipe.hget(key, "meta")
            pipe.zscore(app.redbeat_conf.schedule_key, key)
        replies = pipe.execute()
    found = []
    for index, key in enumerate(owned):
        raw, meta, score = replies[3 * index : 3 * index + 3]
        decoded = json.loads(meta, cls=RedBeatJSONDecoder) if meta else {}
        spec = json.loads(raw) if raw else {}
        runs = int(decoded.get("total_run_count") or 0)
        # A new entry's last_run_at is its creation time (see save()), not a run.
        last_run_at = decoded.get("last_run_at")
        next_run_at = None if score is None or score < 0 else from_timestamp(score)
        if next_run_at is not None and last_run_at is not None and "schedule" in spec:
            # The score is whole seconds; the schedule gives the exact time.
            with contextlib.suppress(ConfigurationError):
                schedule = parse_schedule(spec["schedule"]).celery_schedule(app)
                next_run_at = next_run_after(schedule, last_run_at)
        found.append(
            RecurringTaskState(
                key=key[start:],
                spec=spec,
                next_run_at=next_run_at,
                last_run_at=last_run_at if runs else None,
                total_run_count=runs,
            )
        )
    return found
