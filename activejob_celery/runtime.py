"""One runtime per app: what ``init_app`` built for it, found with :func:`runtime_for`.

The runtime owns the app's settings, its Redis clients (one per server, shared by every part:
:class:`~activejob_celery.redis_clients.Clients`) and the per-app state of the parts (the
scheduled set, the dead-letter store, the counters' key prefix, ...) in :attr:`Runtime.parts`.
A second ``init_app`` on the same app replaces the runtime and closes the old one, so nothing
from the first call keeps a connection open.

Example:
    >>> runtime_for(app).settings.key("dead")                  # doctest: +SKIP
    'activejob:dead'
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from .config import Settings
from .redis_clients import Clients

logger = logging.getLogger(__name__)

T = TypeVar("T")

_runtimes: weakref.WeakKeyDictionary[Any, Runtime] = weakref.WeakKeyDictionary()
_lock = threading.RLock()


class Runtime:
    """The settings, Redis clients and per-part state of one app in this process.

    Example:
        >>> runtime = runtime_for(app)                          # doctest: +SKIP
        >>> runtime.clients.get(runtime.settings.scheduler_url or broker)  # doctest: +SKIP
        Redis<ConnectionPool<Connection<host=localhost,port=6379,db=0>>>
    """

    def __init__(self, app: Any, settings: Settings | None, *, initialised: bool = False) -> None:
        self.app = app
        self._settings = settings
        self.initialised = initialised
        """Whether ``init_app`` built it (else it was made on first use, from the app's conf)."""
        self.clients = Clients(app)
        self.parts: dict[str, Any] = {}
        self._lock = threading.RLock()

    @property
    def settings(self) -> Settings:
        """The app's settings: the ones ``init_app`` read, else read from its conf on first use."""
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    self._settings = Settings.from_app(self.app)
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings

    def part(self, name: str, build: Callable[[], T]) -> T:
        """The part ``name`` of this app, built once with ``build()``.

        Example:
            >>> runtime_for(app).part("dead_letters", lambda: make_store(app))  # doctest: +SKIP
        """
        with self._lock:
            if name not in self.parts:
                self.parts[name] = build()
            value: T = self.parts[name]
            return value

    def drop(self, name: str) -> None:
        """Forget the part ``name`` (it is built again on next use).

        Example:
            >>> runtime_for(app).drop("routing.conf")              # doctest: +SKIP
        """
        with self._lock:
            self.parts.pop(name, None)

    def close(self) -> None:
        """Close each part that can be closed, then the Redis clients."""
        with self._lock:
            parts, self.parts = list(self.parts.values()), {}
        for value in parts:
            close = getattr(value, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # one part failing to close must not keep the others open
                    logger.warning("closing %r failed", value, exc_info=True)
        self.clients.close()


def install(app: Any, settings: Settings) -> Runtime:
    """Build the runtime of ``app`` (``init_app`` calls this); an earlier one is closed.

    Example:
        >>> install(app, Settings.from_app(app)).initialised   # doctest: +SKIP
        True
    """
    with _lock:
        previous = _runtimes.get(app)
        runtime = _runtimes[app] = Runtime(app, settings, initialised=True)
    if previous is not None:
        previous.close()
    return runtime


def runtime_for(app: Any) -> Runtime:
    """The runtime of ``app``: the one ``init_app`` built, else one made now from its conf.

    Example:
        >>> runtime_for(app).settings.dead_letters_max          # doctest: +SKIP
        10000
    """
    with _lock:
        runtime = _runtimes.get(app)
        if runtime is None:
            runtime = _runtimes[app] = Runtime(app, None)  # settings read on first use
        return runtime


def find_runtime(app: Any) -> Runtime | None:
    """The runtime of ``app`` if it has one (none is made).

    Example:
        >>> find_runtime(Celery("never-set-up")) is None        # doctest: +SKIP
        True
    """
    with _lock:
        return _runtimes.get(app)


def part_of(app: Any, name: str) -> Any:
    """The part ``name`` of ``app``'s runtime, or None (no runtime, or no such part); no lock.

    Example:
        >>> part_of(app, "worker.metrics")                      # doctest: +SKIP
        'activejob:metrics'
    """
    runtime = _runtimes.get(app)
    return None if runtime is None else runtime.parts.get(name)


def app_part(app: Any, name: str, build: Callable[[], T]) -> T:
    """The part ``name`` of ``app``'s runtime, built with ``build()`` if it has none yet.

    For per-app state read on hot paths (the routing configuration, the priority plan): no lock
    once built, and ``build()`` runs outside the runtime's lock (it may take other locks; if two
    threads race, the first value stored wins). A second ``init_app`` drops it with the old
    runtime.

    Example:
        >>> app_part(app, "routing.conf", lambda: read_conf(app))  # doctest: +SKIP
    """
    runtime = _runtimes.get(app)
    if runtime is not None and name in runtime.parts:
        found: T = runtime.parts[name]
        return found
    built = build()
    return runtime_for(app).part(name, lambda: built)


def drop_part(app: Any, name: str) -> None:
    """Forget the part ``name`` of ``app``'s runtime (it is built again on next use).

    Example:
        >>> drop_part(app, "queue_priority.plan")               # doctest: +SKIP
    """
    runtime = find_runtime(app)
    if runtime is not None:
        runtime.drop(name)


def is_initialised(app: Any) -> bool:
    """Whether ``init_app`` ran for ``app`` in this process.

    Example:
        >>> is_initialised(Celery("never-set-up"))               # doctest: +SKIP
        False
    """
    runtime = find_runtime(app)
    return runtime is not None and runtime.initialised


def initialised_apps() -> list[Any]:
    """Every app ``init_app`` ran for in this process (and still alive).

    Example:
        >>> initialised_apps()                                  # doctest: +SKIP
        [<Celery shop at 0x...>]
    """
    with _lock:
        return [app for app, runtime in list(_runtimes.items()) if runtime.initialised]
