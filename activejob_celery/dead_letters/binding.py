"""Which store belongs to which Celery app, and which app a failing job is running for."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .. import internals
from ..adapters import celery_app
from ..broker_queues import broker_url
from ..config import Settings
from ..errors import ConfigurationError
from ..runtime import find_runtime, part_of, runtime_for
from .store import STORE_SCHEMES, DeadLetterStore

if TYPE_CHECKING:
    from celery import Celery

_STORE = "dead_letters.store"
_PROBLEM = "dead_letters.problem"
"""Parts of the app's runtime: its store, and why dead letters are off ("" when on)."""
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
    runtime = runtime_for(app)
    with _lock:
        if runtime.settings != settings:
            runtime.settings = settings
            runtime.parts.pop(_STORE, None)
        runtime.parts[_PROBLEM] = problem or ""
    return problem


def is_set_up(app: object) -> bool:
    """Whether ``setup`` ran for ``app`` in this process with a usable store URL."""
    runtime = find_runtime(app)
    return runtime is not None and runtime.parts.get(_PROBLEM) == ""


def settings_for(app: Celery) -> Settings:
    """The settings ``init_app`` read for ``app`` (read now if it was not set up here)."""
    runtime = find_runtime(app)
    if runtime is None or _PROBLEM not in runtime.parts:
        return Settings.from_app(app)
    return runtime.settings


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
    settings = settings_for(app)
    return runtime_for(app).part(
        _STORE,
        lambda: DeadLetterStore.from_url(store_url(app, settings), settings=settings, app=app),
    )


def built_store(app: Celery) -> DeadLetterStore | None:
    """The dead-letter store of ``app`` if it is set up and its store was made; no lock, no build.

    Example:
        >>> built_store(Celery("never-set-up")) is None         # doctest: +SKIP
        True
    """
    if part_of(app, _PROBLEM) != "":
        return None
    store: DeadLetterStore | None = part_of(app, _STORE)
    return store


def running_task() -> Any:
    """The job task this thread is running in a worker, or None (direct or eager calls)."""
    task = internals.current_task()
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
        app = celery_app()
    return app if app is not None and is_set_up(app) else None
