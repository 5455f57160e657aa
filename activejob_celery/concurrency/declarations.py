"""``limits_concurrency(...)`` and ``unique(...)``: the class-body declarations and their keys."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..declaration import Declaration, collect
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..base import ApplicationJob

KeySource = Callable[..., Any] | str | None
UNTIL = ("executing", "executed", "while_executing")


@dataclasses.dataclass(frozen=True)
class Limit:
    """A job class's concurrency limit (see :func:`limits_concurrency`).

    Example:
        >>> Limit(2, None, 180.0, "billing", "block").key_for(job)   # doctest: +SKIP
        'billing'
    """

    to: int
    key: KeySource
    duration: float
    group: str | None
    on_conflict: str

    def key_for(self, job: ApplicationJob) -> str:
        """``group/key``: the group defaults to the job's name; a None key limits the group."""
        group = self.group or job.job_name
        value = _key_value(self.key, job)
        return group if value is None else f"{group}/{_describe(value)}"


@dataclasses.dataclass(frozen=True)
class Uniqueness:
    """A job class's uniqueness rule (see :func:`unique`).

    Example:
        >>> ReportJob._uniqueness.key_for(ReportJob("2026-12-07"))   # doctest: +SKIP
        'ReportJob/default/5f0c...'
    """

    until: str
    key: KeySource
    ttl: float
    on_conflict: str

    def key_for(self, job: ApplicationJob) -> str:
        """The job name, queue and a digest of the key (by default, of the arguments)."""
        if self.key is None:
            value: Any = job.serialized_arguments()
        else:
            value = _describe(_key_value(self.key, job))
        digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode())
        return f"{job.job_name}/{job.queue_name}/{digest.hexdigest()[:32]}"


def _key_value(source: KeySource, job: ApplicationJob) -> Any:
    if source is None or isinstance(source, str):
        return source
    return source(*job.arguments, **job.keyword_arguments)


def _describe(value: Any) -> str:
    """A model becomes ``module.Class/id`` (Solid Queue's ``Class/id``), anything else ``str``."""
    ident = getattr(value, "id", None)
    if ident is not None and not isinstance(value, str | int | float | bool):
        kind = type(value)
        return f"{kind.__module__}.{kind.__qualname__}/{ident}"
    return str(value)


def _seconds(name: str, value: float | timedelta) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ConfigurationError(f"{name}={value!r} must be a positive timedelta or seconds")
    return float(seconds)


def _check_key(usage: str, key: KeySource) -> None:
    if key is not None and not isinstance(key, str) and not callable(key):
        raise ConfigurationError(
            f"{usage}: key must be a string, a callable of the arguments or None"
        )


class LimitsConcurrency(Declaration):
    """The recorded form of ``limits_concurrency(...)``."""

    def __init__(self, limit: Limit) -> None:
        self.usage = f"limits_concurrency(to={limit.to})"
        self.limit = limit

    def apply(self, job_class: type[ApplicationJob]) -> None:
        """Record the limit on ``job_class`` (its subclasses inherit it)."""
        job_class._concurrency_limit = self.limit


class Unique(Declaration):
    """The recorded form of ``unique(...)``."""

    def __init__(self, rule: Uniqueness) -> None:
        self.usage = f"unique(until={rule.until!r})"
        self.rule = rule

    def apply(self, job_class: type[ApplicationJob]) -> None:
        """Record the rule on ``job_class`` (its subclasses inherit it)."""
        job_class._uniqueness = self.rule


def limits_concurrency(
    to: int = 1,
    key: KeySource = None,
    duration: float | timedelta = timedelta(minutes=3),
    group: str | None = None,
    on_conflict: str = "block",
) -> LimitsConcurrency:
    """At most ``to`` jobs of one key run at once (Solid Queue's ``limits_concurrency``).

    The slot is taken when the job becomes ready (at enqueue; a scheduled job when it is due)
    and freed when its run ends, however it ends; a job over the limit waits in Redis
    (``on_conflict="block"``) or is discarded (``"discard"``, after_discard runs). ``duration``
    bounds a slot whose worker died; ``group`` (default: the job's name) shares a limit.

    Example:
        >>> class SyncAccountJob(ApplicationJob):              # doctest: +SKIP
        ...     limits_concurrency(to=2, key=lambda account_id, **kw: account_id)
    """
    usage = f"limits_concurrency(to={to!r})"
    if isinstance(to, bool) or not isinstance(to, int) or to < 1:
        raise ConfigurationError(f"{usage}: to must be an integer of at least 1")
    if on_conflict not in ("block", "discard"):
        raise ConfigurationError(f"{usage}: on_conflict must be 'block' or 'discard'")
    if group is not None and not isinstance(group, str):
        raise ConfigurationError(f"{usage}: group must be a string")
    _check_key(usage, key)
    limit = Limit(to, key, _seconds("duration", duration), group, on_conflict)
    return collect(LimitsConcurrency(limit))


def unique(
    until: str = "executed",
    key: KeySource = None,
    ttl: float | timedelta = timedelta(hours=1),
    on_conflict: str = "discard",
) -> Unique:
    """No duplicate of this job (same name, queue and key) while the lock is held.

    ``until="executing"``: no duplicate while one is queued or scheduled; ``"executed"``: until
    it finished (retries keep the lock); ``"while_executing"``: duplicates may queue but never
    run together (the later one is re-enqueued shortly). ``on_conflict="raise"`` raises
    :class:`~activejob_celery.errors.JobNotUniqueError`; ``Job.set(unique=False)`` bypasses.

    Example:
        >>> class ReportJob(ApplicationJob):                   # doctest: +SKIP
        ...     unique(until="executed", ttl=timedelta(minutes=10))
    """
    usage = f"unique(until={until!r})"
    if until not in UNTIL:
        raise ConfigurationError(f"{usage}: until must be one of {', '.join(UNTIL)}")
    if on_conflict not in ("discard", "raise"):
        raise ConfigurationError(f"{usage}: on_conflict must be 'discard' or 'raise'")
    _check_key(usage, key)
    return collect(Unique(Uniqueness(until, key, _seconds("ttl", ttl), on_conflict)))
