"""Which store belongs to which Celery app, and which app a failing job is running for."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from ..broker_queues import broker_url
from ..config import Settings
from ..errors import ConfigurationError
from .store import STORE_SCHEMES, DeadLetterStore

if TYPE_CHECKING:
    from celery import Celery

_settings: weakref.WeakKeyDictionary[Any, Settings] = weakref.WeakKeyDictionary()
_stores: weakref.WeakKeyDictionary[Any, DeadLetterStore] = weakref.WeakKeyDictionary()
_off: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def remember(app: Celery, settings: Settings) -> str | None:
    """Note ``app``'s settings (``setup`` calls this); returns why dead letters are off, if so."""
    try:
        url = store_url(app, settings)
    except ConfigurationError as error:
        problem: str | None = str(error)
    else:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        problem = (
            None
            if scheme in STORE_SCHEMES
            else (
                f"they need a Redis store and {scheme or url!r} URLs are not Redis; "
                "set activejob_dead_letters_url = 'redis://host:6379/0' (or rediss://, "
                "redis+socket://, sentinel://)"
            )
        )
    with _lock:
        previous = _settings.get(app)
        _settings[app] = settings
        if previous is not None and previous != settings:
            _stores.pop(app, None)
        if problem is None:
            _off.discard(app)
        else:
            _off.add(app)
    return problem


def is_set_up(app: object) -> bool:
    """Whether ``setup`` ran for ``app`` in this process with a usable store URL."""
    return app in _settings and app not in _off


def settings_for(app: Celery) -> Settings:
    """The settings ``init_app`` read for ``app`` (read now if it was not set up here)."""
    return _settings.get(app) or Settings.from_app(app)


def store_url(app: Celery, settings: Settings) -> str:
    """``activejob_dead_letters_url``, else the (first) broker URL."""
    if settings.dead_letters_url:
        return settings.dead_letters_url
    broker = broker_url(app)
    if broker:
        return broker
    raise ConfigurationError(
        "The dead-letter store has no Redis to use: set activejob_dead_letters_url or a broker URL"
    )


def store_for(app: Celery) -> DeadLetterStore:
    """The dead-letter store of ``app`` (one per app and process, made on first use).

    Raises:
        ConfigurationError: the app has neither ``activejob_dead_letters_url`` nor a Redis broker.

    Example:
        >>> from activejob_celery.dead_letters import store_for
        >>> store_for(app).list(reason="unknown_job_class")      # doctest: +SKIP
    """
    with _lock:
        store = _stores.get(app)
        if store is not None:
            return store
        settings = settings_for(app)
        store = DeadLetterStore.from_url(store_url(app, settings), settings=settings, app=app)
        _stores[app] = store
        return store


def running_task() -> Any:
    """The job task this thread is running in a worker, or None (direct or eager calls)."""
    from celery._state import get_current_task

    task = get_current_task()
    if task is None or getattr(task, "job_class", None) is None:
        return None
    request = task.request
    if request is None or request.called_directly or request.is_eager:
        return None
    return task


def app_in_scope() -> Celery | None:
    """The app of the running job task, else the app ``init_app`` set up last (if set up here)."""
    task = running_task()
    app = task.app if task is not None else None
    if app is None:
        from ..adapters import named_adapter

        try:
            app = getattr(named_adapter("celery"), "app", None)
        except ConfigurationError:
            return None
    return app if app is not None and is_set_up(app) else None
