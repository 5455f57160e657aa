"""Recurring jobs on RedBeat, from a recurring.yml or a mapping, reconciled when beat starts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery.signals import beat_init

from ..adapters import celery_app, named_adapter
from ..config import Settings
from ..errors import ConfigurationError
from ..parts_off import check_redbeat_url
from ..runtime import part_of, runtime_for
from .config import RecurringJob, build_job, load_recurring
from .connection import use_broker_sentinel
from .crontabs import ZonedCrontab
from .schedules import SUPPORTED_FORMS, RecurringSchedule, parse_schedule

if TYPE_CHECKING:
    from celery import Celery

    from ..base import ApplicationJob
    from .store import RecurringTaskState, SyncResult

logger = logging.getLogger(__name__)

_PART = "recurring.settings"
"""The settings ``setup`` was given, a part of the app's runtime."""


def setup(app: Celery, settings: Settings) -> None:
    """Register the firing task and the beat start hook on ``app`` (called by ``init_app``).

    Without celery-redbeat installed only loading and checking entries is available.

    Example:
        >>> activejob_celery.init_app(app)   # runs recurring.setup  # doctest: +SKIP
    """
    if not settings.recurring_key_prefix:
        raise ConfigurationError("activejob_recurring_key_prefix must not be empty")
    runtime_for(app).parts[_PART] = settings
    try:
        # Importing RedBeat first connects its lock-taking beat_init receiver before ours,
        # so only the beat that holds the lock reconciles.
        # import here: optional extra (redbeat)
        from . import tasks
    except ImportError:
        logger.debug("celery-redbeat is not installed: recurring jobs are not scheduled")
        return
    tasks.register(app, settings.recurring_key_prefix)
    use_broker_sentinel(app)  # before the next line: it sets redbeat_redis_options
    check_redbeat_url(app)  # RabbitMQ needs redbeat_redis_url: one WARNING at worker start
    _keep_our_transport_options_from_redbeat(app)
    beat_init.connect(_on_beat_init, weak=False, dispatch_uid="activejob_celery.recurring")


def configured_jobs(app: Celery) -> list[RecurringJob]:
    """The entries ``activejob_recurring_schedule`` names, for ``activejob_recurring_environment``.

    Example:
        >>> [job.key for job in configured_jobs(app)]             # doctest: +SKIP
        ['cleanup_old_sessions', 'weekly_digest']
    """
    settings = _settings_for(app)
    return load_recurring(settings.recurring_schedule, environment=settings.recurring_environment)


def sync(app: Celery, jobs: list[RecurringJob] | None = None) -> SyncResult:
    """Reconcile RedBeat with the configured entries (or ``jobs``): add, update, remove.

    Only entries under ``activejob_recurring_key_prefix`` are touched, and runtime entries
    (:func:`schedule_recurring_task`) are kept. Beat runs this when it starts.

    Raises:
        ConfigurationError: the configuration is invalid or not set; nothing was changed.

    Example:
        >>> activejob_celery.recurring.sync(app)                    # doctest: +SKIP
        SyncResult(added=['nightly'], updated=[], removed=[], unchanged=[])
    """
    # import here: optional extra (redbeat)
    from . import store

    settings = _settings_for(app)
    if jobs is None:
        if settings.recurring_schedule is None:
            raise ConfigurationError(
                "activejob_recurring_schedule is not set: give the path of a recurring.yml "
                "or a mapping (an empty mapping removes every configured entry)"
            )
        jobs = configured_jobs(app)
    return store.sync(app, settings.recurring_key_prefix, jobs)


def schedule_recurring_task(
    key: str,
    *,
    job: type[ApplicationJob] | str,
    schedule: str,
    args: list[Any] | tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    queue: str | None = None,
    priority: int | None = None,
    description: str | None = None,
    app: Celery | None = None,
) -> RecurringJob:
    """Add or replace a runtime entry (Solid Queue's ``schedule_recurring_task``).

    Runtime entries live in RedBeat until :func:`unschedule_recurring_task`; syncing the
    configuration keeps them. A configured entry with the same key cannot be replaced.

    Raises:
        ConfigurationError: unknown job class, unsupported schedule, or a configured key.

    Example:
        >>> schedule_recurring_task("report", job=ReportJob, schedule="every monday at 9am",
        ...                         args=["weekly"])               # doctest: +SKIP
    """
    # import here: optional extra (redbeat)
    from . import store

    app = _app(app)
    prefix = _settings_for(app).recurring_key_prefix
    name = job if isinstance(job, str) else job.job_name
    entry = {"class": name, "schedule": schedule, "args": list(args), "kwargs": kwargs,
             "queue": queue, "priority": priority, "description": description}  # fmt: skip
    recurring = build_job(key, entry, static=False)
    existing = store.read_spec(app, prefix, key)
    if existing is not None and existing.get("static", True):
        raise ConfigurationError(
            f"recurring job {key!r} comes from the configuration; edit it there"
        )
    store.save(app, prefix, recurring)
    return recurring


def unschedule_recurring_task(key: str, *, app: Celery | None = None) -> bool:
    """Remove a runtime entry; False when there is none.

    Raises:
        ConfigurationError: ``key`` is a configured entry (remove it from the file, then sync).

    Example:
        >>> unschedule_recurring_task("report")                     # doctest: +SKIP
        True
    """
    # import here: optional extra (redbeat)
    from . import store

    app = _app(app)
    prefix = _settings_for(app).recurring_key_prefix
    spec = store.read_spec(app, prefix, key)
    if spec is None:
        return False
    if spec.get("static", True):
        raise ConfigurationError(
            f"recurring job {key!r} comes from the configuration; remove it there and sync"
        )
    store.delete(app, store.redis_key(app, prefix, key))
    return True


def recurring_tasks(app: Celery | None = None) -> list[RecurringTaskState]:
    """Every entry this package keeps in RedBeat, with next and last run times.

    Example:
        >>> [(task.key, task.next_run_at) for task in recurring_tasks()]   # doctest: +SKIP
        [('nightly', datetime.datetime(2024, 5, 2, 2, 0, tzinfo=datetime.timezone.utc))]
    """
    # import here: optional extra (redbeat)
    from . import store

    app = _app(app)
    return store.states(app, _settings_for(app).recurring_key_prefix)


def run_now(key: str, *, app: Celery | None = None) -> Any:
    """Enqueue one run of entry ``key`` now; its schedule is unchanged.

    Raises:
        ConfigurationError: no entry ``key`` is scheduled.

    Example:
        >>> run_now("nightly").job_id                              # doctest: +SKIP
        '1b9d6bcd-...'
    """
    # import here: optional extra (redbeat)
    from . import tasks

    app = _app(app)
    job = tasks.enqueue_recurring(app, _settings_for(app).recurring_key_prefix, key)
    if job is None:
        raise ConfigurationError(f"no recurring job {key!r} is scheduled (run sync first?)")
    return job


def _on_beat_init(sender: Any = None, **_: Any) -> None:
    # import here: optional extra (redbeat)
    from redbeat.schedulers import RedBeatScheduler

    # import here: optional extra (redbeat)
    from .store import RecurringEntry

    scheduler = getattr(sender, "scheduler", None)
    app = getattr(scheduler, "app", None)
    if not isinstance(scheduler, RedBeatScheduler) or part_of(app, _PART) is None:
        return
    scheduler.Entry = RecurringEntry  # per-entry time zones for our entries, this process only
    if _settings_for(app).recurring_schedule is None:
        logger.info("beat: activejob_recurring_schedule is not set; recurring entries unchanged")
        return
    try:
        result = sync(app)
    except ConfigurationError as error:
        logger.critical("beat: invalid recurring jobs, not starting: %s", error)
        scheduler.close()  # releases RedBeat's lock for a beat with a valid configuration
        raise SystemExit(f"activejob_celery: {error}") from None
    logger.info(
        "beat: recurring jobs synced (added %s, updated %s, removed %s, unchanged %d)",
        result.added, result.updated, result.removed, len(result.unchanged),
    )  # fmt: skip


def _keep_our_transport_options_from_redbeat(app: Celery) -> None:
    _unprefix_redbeat_settings(app)
    # init_app adds priority_steps to broker_transport_options; without redbeat_redis_options
    # RedBeat would fall back to them and warn (deprecated fallback). They mean nothing to it.
    configured = {str(key).lower() for key in app.conf}
    options = app.conf.broker_transport_options or {}
    if "redbeat_redis_options" not in configured and set(options) <= {"priority_steps"}:
        app.conf.redbeat_redis_options = {}


def _unprefix_redbeat_settings(app: Celery) -> None:
    # Under config_from_object(..., namespace="CELERY") a user writes CELERY_REDBEAT_REDIS_OPTIONS.
    # Celery's conf.get finds it as redbeat_redis_options, but RedBeat asks whether the key
    # itself is set and, finding only the prefixed one, drops most options and falls back to
    # the broker's settings. Copy each such value under the name RedBeat reads.
    configured = {str(key).lower() for key in app.conf}
    for key in list(configured):
        head, found, tail = key.partition("_redbeat_")
        name = "redbeat_" + tail
        if not found or not head or name in configured:
            continue
        value = app.conf.get(name)
        if value is not None:
            app.conf[name] = value


def _settings_for(app: Celery) -> Settings:
    settings = part_of(app, _PART)
    return settings if isinstance(settings, Settings) else Settings.from_app(app)


def _app(app: Celery | None) -> Celery:
    if app is not None:
        return app

    found = celery_app()  # the app init_app set up last
    return found if found is not None else named_adapter("celery").app  # type: ignore[attr-defined]


__all__ = [
    "SUPPORTED_FORMS",
    "RecurringJob",
    "RecurringSchedule",
    "ZonedCrontab",
    "configured_jobs",
    "load_recurring",
    "parse_schedule",
    "recurring_tasks",
    "run_now",
    "schedule_recurring_task",
    "setup",
    "sync",
    "unschedule_recurring_task",
]
