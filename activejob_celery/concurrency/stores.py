"""Finding an app's lock store, publishing unblocked jobs, and the worker's maintenance thread."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from celery import signals as celery_signals
from redis.exceptions import RedisError

from .. import registry, signals
from ..adapters import named_adapter
from ..adapters.celery import CeleryAdapter
from ..dead_letters.binding import settings_for
from ..errors import ConfigurationError
from ..execution import instantiate
from ..failures import job_failed
from ..runtime import app_part, runtime_for
from ..scheduler import scheduled_set_for
from .locks import LockStore

if TYPE_CHECKING:
    from ..adapters.base import QueueAdapter

logger = logging.getLogger("activejob_celery.concurrency")

_PART = "concurrency.store"
"""Part of the app's runtime: its :class:`LockStore` (on the scheduled set's client)."""
_WARNED = "concurrency.warned"
"""Part of the app's runtime: ``[True]`` once it was told it has no Redis for the locks."""
_NO_REDIS = (
    "limits_concurrency and unique need a Redis (the scheduled set's) and are not enforced for "
    "this app: set activejob_scheduler_url = 'redis://host:6379/0' (a Redis broker also works)"
)


def store_for_app(app: Any) -> LockStore | None:
    """The lock store of ``app`` (the scheduled set's Redis), or None if it has none.

    Example:
        >>> store_for_app(app).blocked_count()                 # doctest: +SKIP
        0
    """
    try:
        client = scheduled_set_for(app).client
    except ConfigurationError:
        warned: list[bool] = app_part(app, _WARNED, list)
        if not warned:
            warned.append(True)
            logger.warning(_NO_REDIS)
        return None
    parts = runtime_for(app).parts
    store: LockStore | None = parts.get(_PART)
    if store is None or store.client is not client:
        store = parts[_PART] = LockStore(client, settings_for(app))
    return store


def store_for_adapter(adapter: QueueAdapter) -> LockStore | None:
    """The lock store behind a Celery adapter; None for other adapters (no locks there).

    Example:
        >>> store_for_adapter(named_adapter("inline")) is None  # doctest: +SKIP
        True
    """
    if not isinstance(adapter, CeleryAdapter):
        return None
    return store_for_app(adapter.app)


def unblock(
    store: LockStore,
    parked: list[dict[str, Any]],
    adapter: QueueAdapter | None,
    *,
    app: Any = None,
    key: str | None = None,
) -> int:
    """Publish jobs that were given a slot; a job that cannot be published becomes a dead letter.

    Example:
        >>> unblock(store, store.release(key, job_id), None, app=app)   # doctest: +SKIP
        1
    """
    if not parked:
        return 0
    publisher = adapter if isinstance(adapter, CeleryAdapter) else _adapter_for(app)
    published = 0
    for entry in parked:
        payload: Any = entry.get("payload")
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        try:
            job = instantiate(payload)
            publisher.publish(job)
        except Exception as error:  # kept as a dead letter, never dropped silently
            logger.error("Could not publish unblocked job %r: %s", payload, error)
            job_failed(payload, error, reason="enqueue_failed", job=None)
            _handed_over(store, job_id)  # the dead letter has it (a store down raises above)
            continue
        _handed_over(store, job_id)
        published += 1
        logger.info("Unblocked %s (job_id %s) of %s", job.job_name, job.job_id, key or "a key")
        if signals.unblocked.receivers:
            signals.unblocked.send(type(job), job=job, key=key, reason="slot_freed")
    return published


def _handed_over(store: LockStore, job_id: Any) -> None:
    if isinstance(job_id, str):
        try:
            store.handed_over([job_id])
        except RedisError as error:  # republished after the lease: run twice, never lost
            logger.warning("Could not acknowledge unblocked job %s: %s", job_id, error)


def _adapter_for(app: Any) -> CeleryAdapter:
    try:
        adapter = named_adapter("celery")
    except ConfigurationError:
        adapter = None
    if isinstance(adapter, CeleryAdapter) and adapter.app is app:
        return adapter
    return CeleryAdapter(app)


class Maintenance:
    """Frees slots whose holder died (after their ``duration``) and unblocks the next jobs.

    One thread in each worker's main process, every ``activejob_concurrency_maintenance_interval``
    seconds (Solid Queue's concurrency maintenance).

    Example:
        >>> Maintenance(app, interval=10).run_once()           # doctest: +SKIP
        0
    """

    def __init__(self, app: Any, *, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One pass; returns how many jobs were unblocked."""
        store = store_for_app(self.app)
        if store is None:
            return 0
        return unblock(store, store.free_expired(), None, app=self.app)

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="activejob-concurrency", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for a pass in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as error:  # Redis away: the next pass tries again
                logger.warning("Concurrency maintenance pass failed: %s", error)


_maintenance: weakref.WeakKeyDictionary[Any, Maintenance] = weakref.WeakKeyDictionary()


def _uses_locks() -> bool:
    return any(
        getattr(kind, "_concurrency_limit", None) or getattr(kind, "_uniqueness", None)
        for kind in registry.snapshot().values()
    )


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if app is None or app in _maintenance or not _uses_locks():
        return
    if store_for_app(app) is None:
        return  # store_for_app warned, naming the setting
    maintenance = _maintenance[app] = Maintenance(
        app, interval=settings_for(app).concurrency_maintenance_interval
    )
    maintenance.start()


def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    for app in list(_maintenance):
        if sender is None or getattr(sender, "app", app) is app:
            _maintenance.pop(app).stop()


celery_signals.worker_ready.connect(_on_worker_ready, weak=False)
celery_signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)
