"""recurring.yml and Python mappings: entries checked and resolved to job classes at load time."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import registry
from ..arguments import deserialize_arguments, serialize_arguments
from ..errors import ConfigurationError
from .classes import resolve_job_class
from .formats import ENTRY_KEYS, HINTS, normalize_entry, unwrap_document
from .schedules import RecurringSchedule, parse_schedule

if TYPE_CHECKING:
    from ..base import ApplicationJob

logger = logging.getLogger(__name__)


@dataclass
class RecurringJob:
    """One recurring entry: which job, with which arguments, on which schedule.

    Example:
        >>> entry = {"class": "CleanupJob", "schedule": "every day at 2am"}
        >>> [job] = load_recurring({"nightly": entry})             # doctest: +SKIP
        >>> job.key, job.job_class.__name__, job.schedule.cron   # doctest: +SKIP
        ('nightly', 'CleanupJob', '0 2 * * *')
        >>> job.enqueue()                                         # doctest: +SKIP
    """

    key: str
    job_class: type[ApplicationJob]
    schedule: RecurringSchedule
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    description: str | None = None
    static: bool = True
    enabled: bool = field(default=True, compare=False)
    """False for an entry switched off in its file (``status: disabled``, ``enabled: false``)."""
    first_in: float | None = field(default=None, compare=False)
    """Seconds from adding the entry to its first run (sidekiq-scheduler's ``first_in``)."""

    @property
    def class_name(self) -> str:
        """The job class's ``job_name`` (what is stored and shown)."""
        return self.job_class.job_name

    def next_time(self, after: datetime | None = None, app: Any = None) -> datetime:
        """The run that follows one at ``after`` (default now), in UTC.

        Example:
            >>> job.next_time(datetime(2024, 5, 1, tzinfo=timezone.utc))     # doctest: +SKIP
            datetime.datetime(2024, 5, 1, 2, 0, tzinfo=datetime.timezone.utc)
        """
        return self.schedule.next_time(after or datetime.now(timezone.utc), app)

    def enqueue(self) -> Any:
        """Enqueue one run now through ``perform_later`` (fresh ``job_id``, enqueue callbacks).

        Returns:
            The job, or False when a before_enqueue callback halted (as ``perform_later``).

        Example:
            >>> job.enqueue().job_id                                   # doctest: +SKIP
            'c0a8...'
        """
        options = {"queue": self.queue, "priority": self.priority}
        configured: Any = self.job_class.set(**{k: v for k, v in options.items() if v is not None})
        return configured.perform_later(*copy.deepcopy(self.args), **copy.deepcopy(self.kwargs))

    def to_spec(self) -> dict[str, Any]:
        """The JSON form stored with the RedBeat entry (arguments in the job wire encoding).

        Example:
            >>> job.to_spec()["class"]                                 # doctest: +SKIP
            'shop.jobs.CleanupJob'
        """
        return {
            "key": self.key,
            "class": self.class_name,
            "arguments": serialize_arguments(self.args, self.kwargs),
            "queue": self.queue,
            "priority": self.priority,
            "schedule": self.schedule.text,
            "description": self.description,
            "static": self.static,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RecurringJob:
        """Rebuild from :meth:`to_spec`; the class is resolved through the registry only.

        Raises:
            UnknownJobClassError: the class is not registered in this process.
            ConfigurationError: the stored schedule is no longer valid.

        Example:
            >>> RecurringJob.from_spec(job.to_spec()) == job             # doctest: +SKIP
            True
        """
        args, kwargs = deserialize_arguments(spec.get("arguments") or [])
        return cls(
            key=str(spec["key"]),
            job_class=registry.find_by_class_name(str(spec["class"])),
            schedule=parse_schedule(spec["schedule"]),
            args=list(args),
            kwargs=dict(kwargs),
            queue=spec.get("queue"),
            priority=spec.get("priority"),
            description=spec.get("description"),
            static=bool(spec.get("static", True)),
        )


def load_recurring(
    source: str | os.PathLike[str] | Mapping[str, Any] | None,
    *,
    environment: str | None = None,
) -> list[RecurringJob]:
    """Load and check every entry of a recurring.yml path or a mapping of the same shape.

    Entries are keyed by name, each with ``class`` (a ``job_name``, a unique bare class
    name or a Ruby constant path) and ``schedule``, and optionally ``args``, ``kwargs``,
    ``queue``, ``priority`` and ``description``; GoodJob's, sidekiq-cron's and
    sidekiq-scheduler's keys (``cron:``, ``every:``, ``set:``, ``status:``, ``enabled:``)
    are read too, and entries they switch off are left out. A document with environment
    sections (``production:``, ...) as Solid Queue writes it needs ``environment``; a
    missing section means no entries.

    Raises:
        ConfigurationError: listing every problem, each naming its entry (unknown class,
            unsupported schedule, ``command:`` entries, unknown keys, wrong types).

    Example:
        >>> load_recurring("config/recurring.yml", environment="production")   # doctest: +SKIP
        [RecurringJob(key='cleanup_old_sessions', ...), ...]
        >>> load_recurring({"ping": {"class": "PingJob", "schedule": "every 30 seconds"}})
    """
    if source is None:
        return []
    where = "the recurring mapping"
    if isinstance(source, (str, os.PathLike)):
        where = str(source)
        document = _read_yaml(Path(source))
    else:
        document = source
    document = unwrap_document(document)
    if document is None:
        return []
    if not isinstance(document, Mapping):
        raise ConfigurationError(
            f"{where}: expected a mapping of entries, got {type(document).__name__}"
        )
    entries = unwrap_document(_select_environment(document, environment, where))
    if not isinstance(entries, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping of entries in {environment!r}")
    errors: list[str] = []
    jobs: list[RecurringJob] = []
    for key, entry in entries.items():
        try:
            jobs.append(build_job(key, entry))
        except ConfigurationError as error:
            errors.append(f"  - {error}")
    if errors:
        raise ConfigurationError(f"{where}: invalid recurring jobs:\n" + "\n".join(errors))
    for job in jobs:
        if not job.enabled:
            logger.info(
                "%s: recurring job %r is disabled in the file: not scheduled", where, job.key
            )
    return [job for job in jobs if job.enabled]


def build_job(key: object, entry: object, *, static: bool = True) -> RecurringJob:
    """Check one entry and resolve its class; the error names the entry.

    Example:
        >>> build_job("ping", {"class": "PingJob", "schedule": "every minute"})  # doctest: +SKIP
    """
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise ConfigurationError(f"recurring job {key!r}: the key must be a non-empty name")
    name = f"recurring job {key!r}"
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{name}: expected a mapping with class and schedule")
    fields, enabled = normalize_entry(name, key, entry)
    class_name, text = fields.get("class"), fields.get("schedule")
    if not isinstance(class_name, str) or not class_name:
        raise ConfigurationError(f"{name}: class: must name a registered job class")
    if text is None:
        raise ConfigurationError(f"{name}: schedule: is missing")
    try:
        job_class = resolve_job_class(class_name)
    except ConfigurationError as error:
        raise ConfigurationError(f"{name}: {error}") from None
    try:
        schedule = parse_schedule(text)
    except ConfigurationError as error:
        raise ConfigurationError(f"{name}: {error}") from None
    job = RecurringJob(
        key=key,
        job_class=job_class,
        schedule=schedule,
        args=_args(name, fields.get("args")),
        kwargs=_kwargs(name, fields.get("kwargs")),
        queue=_optional(name, fields, "queue", str),
        priority=_optional(name, fields, "priority", int),
        description=_optional(name, fields, "description", str),
        static=static,
        enabled=enabled,
        first_in=fields.get("first_in"),
    )
    try:
        job.to_spec()
    except TypeError as error:  # SerializationError: an argument the wire format cannot carry
        raise ConfigurationError(f"{name}: {error}") from None
    return job


def _read_yaml(path: Path) -> Any:
    try:
        # import here: optional extra (yaml)
        import yaml
    except ImportError:
        raise ConfigurationError(
            f"{path}: reading recurring.yml needs PyYAML (pip install 'activejob-celery[yaml]')"
        ) from None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read recurring schedule {path}: {error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{path} is not valid YAML: {error}") from None


def _select_environment(
    document: Mapping[Any, Any], environment: str | None, where: str
) -> Mapping[Any, Any]:
    # A section holds entries (mappings without entry fields); an entry holds fields.
    entry_keys = {*ENTRY_KEYS, *HINTS}
    sectioned = bool(document) and all(
        value is None
        or (isinstance(value, Mapping) and not {str(k).lstrip(":") for k in value} & entry_keys)
        for value in document.values()
    )
    if not sectioned:
        return document
    if environment is None:
        names = ", ".join(str(name) for name in document)
        raise ConfigurationError(
            f"{where} has environment sections ({names}); choose one with "
            "activejob_recurring_environment (or load_recurring(..., environment=...))"
        )
    if environment not in document:
        logger.warning(
            "%s has no %r section (it has %s): no recurring jobs for this environment",
            where,
            environment,
            ", ".join(str(name) for name in document),
        )
    return document.get(environment) or {}


def _args(name: str, value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        raise ConfigurationError(f"{name}: args: must be a list; put keyword arguments in kwargs:")
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _kwargs(name: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ConfigurationError(f"{name}: kwargs: must be a mapping with string keys")
    return dict(value)


def _optional(name: str, entry: Mapping[str, Any], key: str, kind: type) -> Any:
    value = entry.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise ConfigurationError(f"{name}: {key}: must be {'an integer' if kind is int else 'a text'}")
