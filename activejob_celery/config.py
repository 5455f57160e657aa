"""Settings: every ``activejob_*`` Celery key, read once per app into a frozen dataclass."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .queue_weights import check_queue_settings

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)

PREFIX = "activejob_"
_MISSING = object()
_SCHEDULERS = ("redis", "celery")
_ADAPTERS = ("celery", "inline", "test")
_SECRET_FIELDS = frozenset({"smtp_password", "web_password", "web_token", "web_secret"})
_URL_FIELDS = frozenset({"scheduler_url", "dead_letters_url"})
_URL_PASSWORD = re.compile(r"(://[^/@:;?#]*:)[^/;?#]*@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|token|secret)=)[^&;#]*")
MASK = "***"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The package settings of one Celery app; each field is the Celery key ``activejob_<field>``.

    Example:
        >>> app.conf.activejob_default_queue_name = "jobs"      # doctest: +SKIP
        >>> Settings.from_app(app).default_queue_name           # doctest: +SKIP
        'jobs'
        >>> Settings(retry_jitter=0).retry_jitter
        0
    """

    queue_adapter: str = "celery"
    default_queue_name: str = "default"
    queue_name_prefix: str | None = None
    queue_name_delimiter: str = "_"
    default_priority: int | None = None
    retry_jitter: float = 0.15
    log_arguments: bool = True
    store_results: bool = False
    raise_on_enqueue_error: bool = False
    enqueue_after_transaction_commit: bool = False
    default_locale: str = "en"
    default_timezone: str = "UTC"
    scheduler: str | None = None
    scheduler_url: str | None = None
    scheduler_embedded: bool = True
    scheduler_poll_interval: float = 1.0
    queue_pattern_interval: float = 5.0
    scheduler_batch_size: int = 1000
    scheduler_lease: float = 30.0
    reliable_fetch: bool = True
    max_interruptions: int = 3
    key_prefix: str = "activejob"
    concurrency_maintenance_interval: float = 10.0
    dead_letters_url: str | None = None
    dead_letters_max: int = 10_000
    dead_letters_ttl: float = timedelta(days=180).total_seconds()
    dead_letters_raw_max_bytes: int = 64 * 1024
    recurring_schedule: str | Mapping[str, Any] | None = None
    recurring_environment: str | None = None
    recurring_key_prefix: str = "activejob:recurring:"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 30.0
    smtp_from: str | None = None
    web_username: str | None = None
    web_password: str | None = None
    web_token: str | None = None
    web_secret: str | None = None
    queue_weights: Mapping[str, int] | None = None
    queue_order: str | None = None
    worker_heartbeat_interval: float = 5.0
    timeout_grace: float = 30.0
    async_concurrency: int = 1
    track_status: bool = True
    status_ttl: float = timedelta(days=1).total_seconds()
    release_ahead: float = 1.0

    def __repr__(self) -> str:
        """The fields, with passwords, tokens and secrets (also in URLs) shown as ``'***'``."""
        parts = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _SECRET_FIELDS and value is not None:
                value = MASK
            elif field.name in _URL_FIELDS and isinstance(value, str):
                value = redact_url(value)
            parts.append(f"{field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __post_init__(self) -> None:
        if self.queue_adapter not in _ADAPTERS:
            raise ConfigurationError(
                f"activejob_queue_adapter={self.queue_adapter!r}; use one of {', '.join(_ADAPTERS)}"
            )
        if self.scheduler is not None and self.scheduler not in _SCHEDULERS:
            raise ConfigurationError(
                f"activejob_scheduler={self.scheduler!r}; use 'redis' (the durable scheduled set) "
                "or 'celery' (native ETA, for brokers such as RabbitMQ)"
            )
        if not isinstance(self.enqueue_after_transaction_commit, bool):
            raise ConfigurationError(
                "activejob_enqueue_after_transaction_commit must be True or False, not "
                f"{self.enqueue_after_transaction_commit!r}"
            )
        if not isinstance(self.raise_on_enqueue_error, bool):
            raise ConfigurationError("activejob_raise_on_enqueue_error must be True or False")
        if isinstance(self.retry_jitter, bool) or not isinstance(self.retry_jitter, int | float):
            raise ConfigurationError("activejob_retry_jitter must be a number such as 0.15")
        if self.retry_jitter < 0:
            raise ConfigurationError("activejob_retry_jitter must not be negative")
        if not isinstance(self.store_results, bool):
            raise ConfigurationError("activejob_store_results must be True or False")
        if not isinstance(self.track_status, bool):
            raise ConfigurationError("activejob_track_status must be True or False")
        if self.smtp_ssl and self.smtp_starttls:
            raise ConfigurationError(
                "activejob_smtp_ssl and activejob_smtp_starttls exclude each other: ssl speaks TLS "
                "from the start (port 465), starttls upgrades a plain connection (port 587)"
            )
        timeout = self.smtp_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError("activejob_smtp_timeout must be a positive number of seconds")
        for name in (
            "scheduler_poll_interval",
            "scheduler_lease",
            "dead_letters_ttl",
            "queue_pattern_interval",
            "worker_heartbeat_interval",
            "timeout_grace",
            "status_ttl",
        ):
            value = getattr(self, name)
            if isinstance(value, timedelta):
                object.__setattr__(self, name, value.total_seconds())
            elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"activejob_{name} must be a positive number of seconds")
        for name in (
            "scheduler_batch_size",
            "dead_letters_max",
            "dead_letters_raw_max_bytes",
            "max_interruptions",
            "async_concurrency",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"activejob_{name} must be a positive integer")
        weights = check_queue_settings(self.queue_weights, self.queue_order)  # queue_weights.py
        object.__setattr__(self, "queue_weights", weights)
        ahead: Any = self.release_ahead  # seconds or a timedelta; 0 turns the window off
        ahead = ahead.total_seconds() if isinstance(ahead, timedelta) else ahead
        if isinstance(ahead, bool) or not isinstance(ahead, int | float) or not 0 <= ahead < 3600:
            raise ConfigurationError("activejob_release_ahead must be 0 to 3600 (excl.) seconds")
        object.__setattr__(self, "release_ahead", ahead)

    @classmethod
    def from_app(cls, app: Celery) -> Settings:
        """Read every ``activejob_*`` key of ``app``; warn about unknown ones.

        Example:
            >>> settings = Settings.from_app(app)               # doctest: +SKIP
        """
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            value = app.conf.get(PREFIX + field.name, _MISSING)
            if value is not _MISSING and value is not None:
                values[field.name] = value
        warn_unknown_keys(app.conf.keys())
        return cls(**values)

    def resolved_scheduler(self, broker_url: str | None) -> str:
        """The scheduler in force: the setting, else ``redis``, else ``celery`` (ETA).

        ``redis`` when the broker is Redis or ``scheduler_url`` is set (for instance RabbitMQ
        as the broker and a Redis for the scheduled set).

        Example:
            >>> settings = Settings(scheduler_url="redis://cache:6379/2")
            >>> settings.resolved_scheduler("amqp://rabbit//")
            'redis'
            >>> Settings().resolved_scheduler("amqp://rabbit//")
            'celery'
        """
        if self.scheduler is not None:
            return self.scheduler
        if self.scheduler_url:
            return "redis"
        scheme = (broker_url or "").split("://", 1)[0].lower()
        return "redis" if scheme in ("redis", "rediss", "redis+socket", "sentinel") else "celery"

    def key(self, *parts: str) -> str:
        """A Redis key under ``key_prefix``: ``key("scheduled")`` is ``activejob:scheduled``."""
        return ":".join((self.key_prefix, *parts))


def redact_url(url: str | None) -> str | None:
    """``url`` with its passwords (user info and ``password=``-like query values) as ``***``.

    Handles several URLs joined by ``;`` (kombu's Sentinel and failover lists).

    Example:
        >>> redact_url("redis://jobs:s3cret@redis.internal:6379/0")
        'redis://jobs:***@redis.internal:6379/0'
    """
    if url is None:
        return None
    return _QUERY_SECRET.sub(r"\g<1>" + MASK, _URL_PASSWORD.sub(r"\g<1>" + MASK + "@", url))


def redis_location(client: Any) -> str:
    """Where a redis-py client connects, as a URL with its password masked (for reprs).

    Example:
        >>> import redis
        >>> redis_location(redis.Redis.from_url("redis://jobs:s3cret@cache:6380/2"))
        'redis://jobs:***@cache:6380/2'
    """
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    user = kwargs.get("username") or ""
    login = f"{user}:{MASK}@" if kwargs.get("password") else (f"{user}@" if user else "")
    db = kwargs.get("db", 0)
    service = getattr(pool, "service_name", None)  # redis-py's Sentinel master pool
    if isinstance(service, str):
        return f"sentinel://{login}{service}/{db}"
    if kwargs.get("path"):
        return f"redis+socket://{login}{kwargs['path']}?virtual_host={db}"
    return f"redis://{login}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def known_keys() -> list[str]:
    """Every supported Celery key, for documentation and typo suggestions."""
    return [PREFIX + field.name for field in dataclasses.fields(Settings)]


def warn_unknown_keys(keys: Any) -> None:
    """Warn about ``activejob_*`` keys (also ``CELERY_ACTIVEJOB_*``) that no setting reads."""
    known = known_keys()
    for key in list(keys):
        text = str(key)
        name = text.lower()
        if name.startswith("celery_" + PREFIX):
            name = name[len("celery_") :]
        if not name.startswith(PREFIX):
            continue
        # Celery reads `activejob_x` as written and `CELERY_ACTIVEJOB_X` under namespace="CELERY";
        # it never reads other spellings (`ACTIVEJOB_X`), so those warn instead of vanishing.
        if text in known or (text.isupper() and text.startswith("CELERY_") and name in known):
            continue
        # Match without the shared prefix, or every typo would look "close" to some key.
        suffixes = [known_key[len(PREFIX) :] for known_key in known]
        close = difflib.get_close_matches(name[len(PREFIX) :], suffixes, n=1)
        suggestion = PREFIX + close[0] if close else ""
        if suggestion and text.isupper() and text.startswith("CELERY_"):
            suggestion = "CELERY_" + suggestion.upper()  # answer in the spelling the user writes
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        message = f"Unknown setting {key!r} is ignored{hint}"
        # Workers run as daemons where warnings are often hidden, so log it as well.
        warnings.warn(message, UserWarning, stacklevel=3)
        logger.warning(message)


_current = Settings()


def current_settings() -> Settings:
    """The settings of the most recently initialised app (defaults before ``init_app``).

    Example:
        >>> current_settings().default_queue_name
        'default'
    """
    return _current


def use_settings(settings: Settings) -> Settings:
    """Make ``settings`` current; returns the previous ones (tests restore them)."""
    global _current
    previous, _current = _current, settings
    return previous
