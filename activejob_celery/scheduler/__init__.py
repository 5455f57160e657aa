"""The durable scheduled set: delayed jobs and retries wait in Redis, not in worker memory.

Example:
    >>> from activejob_celery.scheduler import scheduled_set_for
    >>> jobs = scheduled_set_for(app)                          # doctest: +SKIP
    >>> jobs.count(), jobs.list(limit=10)                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..adapters import named_adapter
from ..adapters.capture import MessageBuilder, supports_direct
from ..adapters.celery import CeleryAdapter, EtaScheduler
from ..broker_queues import broker_url, is_redis_url
from ..errors import ConfigurationError
from ..parts_off import SCHEDULED_SET, part_off, part_on
from ..queue_priority import forget_broker
from ..runtime import find_runtime, runtime_for
from .entries import ScheduledJob
from .poller import Poller, SchedulerPoller
from .scheduler import RedisScheduler
from .store import Release, ScheduledSet

if TYPE_CHECKING:
    from ..adapters.celery import CeleryAdapter
    from ..config import Settings

__all__ = [
    "MessageBuilder",
    "Poller",
    "RedisScheduler",
    "Release",
    "ScheduledJob",
    "ScheduledSet",
    "SchedulerPoller",
    "poller_for",
    "publishing_parts",
    "scheduled_set_for",
    "setup",
]


class _AppState:
    def __init__(self, settings: Settings, adapter: CeleryAdapter) -> None:
        self.settings = settings
        self.adapter = adapter
        self.scheduled: ScheduledSet | None = None
        self.builder: MessageBuilder | None = None

    def close(self) -> None:
        if self.builder is not None:
            self.builder.close()


_PART = "scheduler"
"""The scheduler's state in the app's runtime (:mod:`activejob_celery.runtime`)."""
_ETA_REASON = (
    "delayed jobs and retries are Celery ETA messages held in worker memory; set "
    "activejob_scheduler_url = 'redis://host:6379/0' to keep them in Redis"
)


def setup(app: Any, settings: Settings) -> None:
    """Install the scheduled set on ``app`` when it is in force (called by ``init_app``).

    With ``activejob_scheduler`` resolving to ``"redis"`` (the default on Redis brokers), the
    app's Celery adapter schedules through :class:`RedisScheduler`, and workers run a poller
    bootstep unless ``activejob_scheduler_embedded`` is False. With ``"celery"`` nothing
    changes: delayed jobs are Celery ETA messages.
    """
    adapter = named_adapter("celery")
    if not isinstance(adapter, CeleryAdapter) or adapter.app is not app:
        adapter = CeleryAdapter(app)
    parts = runtime_for(app).parts
    previous = parts.get(_PART)
    if previous is not None:
        previous.close()
    state = parts[_PART] = _AppState(settings, adapter)
    steps = app.steps["worker"]
    adapter.direct = None
    forget_broker(app)
    if settings.resolved_scheduler(broker_url(app)) != "redis":
        adapter.scheduler = EtaScheduler(adapter)
        steps.discard(SchedulerPoller)
        if settings.scheduler is None:  # not chosen: the broker is not Redis
            part_off(app, SCHEDULED_SET, _ETA_REASON)
        return
    part_on(app, SCHEDULED_SET)
    scheduled = _build(app, state)
    adapter.scheduler = RedisScheduler(adapter, scheduled, state.builder)
    if settings.scheduler_embedded:
        steps.add(SchedulerPoller)
    else:
        steps.discard(SchedulerPoller)


def publishing_parts(app: Any) -> tuple[CeleryAdapter, MessageBuilder | None, Any] | None:
    """The Celery adapter of ``app``'s scheduled set, its message builder and Redis client.

    The builder and client are None when the scheduled set cannot copy messages (or is not in
    force); None before ``setup``. ``init_app`` hands them to the direct publish path.

    Example:
        >>> adapter, builder, client = publishing_parts(app)  # doctest: +SKIP
    """
    state = _state_of(app)
    if state is None:
        return None
    client = state.scheduled.client if state.scheduled is not None else None
    return state.adapter, state.builder, client


def scheduled_set_for(app: Any) -> ScheduledSet:
    """The scheduled set of ``app`` (set up by ``init_app``).

    Example:
        >>> scheduled_set_for(app).get("0b1c...")              # doctest: +SKIP
    """
    state = _state_of(app)
    if state is None:
        raise ConfigurationError(
            "call activejob_celery.init_app(app) before using its scheduled set"
        )
    return state.scheduled or _build(app, state)


def poller_for(app: Any) -> Poller:
    """A new poller for ``app``'s scheduled set, configured from its settings.

    Example:
        >>> poller_for(app).run_once().released                # doctest: +SKIP
    """
    scheduled = scheduled_set_for(app)
    state = _state_of(app)
    assert state is not None  # scheduled_set_for raised otherwise
    return Poller(scheduled, interval=state.settings.scheduler_poll_interval)


def _state_of(app: Any) -> _AppState | None:
    runtime = find_runtime(app)
    state = None if runtime is None else runtime.parts.get(_PART)
    return state if isinstance(state, _AppState) else None


def _build(app: Any, state: _AppState) -> ScheduledSet:
    settings = state.settings
    broker = broker_url(app)
    broker_is_redis = is_redis_url(broker)
    own_url = settings.scheduler_url
    direct = (own_url is None or own_url == broker) and broker_is_redis and supports_direct(app)
    url = own_url or (broker if broker_is_redis else None)
    if url is None:
        raise ConfigurationError(
            "activejob_scheduler='redis' needs a Redis: set activejob_scheduler_url when the "
            "broker is not Redis (or use activejob_scheduler='celery')"
        )
    client = runtime_for(app).clients.get(url)
    state.builder = MessageBuilder(app) if direct else None
    state.scheduled = ScheduledSet(client, settings, state.adapter, direct=direct)
    return state.scheduled
