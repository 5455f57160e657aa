"""Job-level fixtures: isolation of process-wide state, a Celery app set up for jobs, a worker.

Loaded from ``tests/conftest.py`` with ``pytest_plugins``. Names start with ``aj_`` so they never
collide with ``celery.contrib.pytest`` or pytest-celery fixtures.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.signals import before_task_publish

from activejob_celery import adapters, config, registry, runtime
from activejob_celery.log_subscriber import attach, detach
from activejob_celery.testing import swap
from tests.support.worker import run_worker


@pytest.fixture(autouse=True)
def aj_isolation() -> Iterator[None]:
    """Restore the job registry, settings, named adapters and app list after every test."""
    with isolated_state():
        yield


@contextlib.contextmanager
def isolated_state() -> Iterator[None]:
    """Restore the job registry, settings, named adapters, app list and Sentry reporting on exit.

    Also for fixtures of a wider scope (a module's worker): what their ``init_app`` changed
    process-wide must not reach the modules that run after them.
    """
    saved_registry = registry.snapshot()
    saved_settings = config.current_settings()
    saved_adapters = dict(adapters._named)
    saved_apps = runtime.initialised_apps()
    sentry_was_installed = _sentry_installed()
    attach()
    try:
        yield
    finally:
        if _sentry_installed() and not sentry_was_installed:
            # init_app installs Sentry reporting once a test has imported sentry_sdk.
            sys.modules["activejob_celery.integrations.sentry"].uninstall()
        registry.restore(saved_registry)
        config.use_settings(saved_settings)
        adapters._named.clear()
        adapters._named.update(saved_adapters)
        _restore_apps(saved_apps)
        adapters.override = None  # a test that swapped in the test adapter and forgot to restore
        swap._swaps.clear()


def _restore_apps(saved: list[Any]) -> None:
    # Apps set up during the test are no longer "initialised" (job classes defined later are not
    # registered on them); their runtime stays, as the per-app state did before runtimes.
    for app in runtime.initialised_apps():
        if not any(app is kept for kept in saved):
            found = runtime.find_runtime(app)
            if found is not None:
                found.initialised = False
    for app in saved:
        found = runtime.find_runtime(app)
        if found is not None:
            found.initialised = True


def _sentry_installed() -> bool:
    module = sys.modules.get("activejob_celery.integrations.sentry")
    return bool(module is not None and module.is_installed())


def make_app(broker_url: str, **conf: Any) -> Celery:
    """A Celery app on ``broker_url`` with test-friendly settings, set up with ``init_app``."""
    from activejob_celery import init_app

    app = Celery("aj_test", broker=broker_url, set_as_current=False)
    defaults: dict[str, Any] = {
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "worker_prefetch_multiplier": 1,
        "activejob_dead_letters_url": broker_url,
    }
    app.conf.update({**defaults, **conf})
    init_app(app)
    return app


@pytest.fixture
def aj_app(aj_redis: Any) -> Iterator[Celery]:
    """A Celery app on the test's clean Redis database, with ``init_app`` applied."""
    app = make_app(aj_redis.url)
    yield app
    app.close()


@pytest.fixture
def aj_worker(aj_app: Celery) -> Iterator[Any]:
    """An in-process solo worker consuming ``aj_app``'s job queues."""
    with run_worker(aj_app) as worker:
        yield worker


@pytest.fixture
def aj_publishes() -> Iterator[list[dict[str, Any]]]:
    """Headers of every message Celery publishes in this process (``before_task_publish``)."""
    seen: list[dict[str, Any]] = []

    def record(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        seen.append(dict(headers or {}))

    before_task_publish.connect(record, weak=False)
    yield seen
    before_task_publish.disconnect(record)


class JobBuffer:
    """A thread-safe list jobs append to (Rails' ``JobBuffer``)."""

    def __init__(self) -> None:
        self._values: list[Any] = []
        self._lock = threading.Lock()

    def add(self, value: Any) -> None:
        with self._lock:
            self._values.append(value)

    @property
    def values(self) -> list[Any]:
        with self._lock:
            return list(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


@pytest.fixture
def aj_job_buffer() -> JobBuffer:
    """A fresh :class:`JobBuffer` per test."""
    return JobBuffer()


@pytest.fixture
def aj_quiet_logs() -> Iterator[None]:
    """Detach the Rails log lines for a test that produces many of them."""
    detach()
    yield
    attach()
