"""``init_app``: settings, one task per job class, queue consumption and logging for an app."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import bootsteps

from . import (
    dead_letters,
    discovery,
    internals,
    log_subscriber,
    recurring,
    registry,
    results,
    routing,
    running,
    runtime,
    scheduler,
    status,
    worker,
    worker_shutdown,
)
from .adapters import direct, use_celery_app
from .broker_queues import broker_url, is_redis_url
from .config import Settings, current_settings, use_settings
from .dead_letters.consumer import DeadLetterConsumer
from .errors import ConfigurationError
from .integrations import autoinstall
from .perform_body import job_time_limits
from .priority_buckets import check_steps
from .queue_order import QueueOrderFetch, QueueOrderStep, add_worker_options
from .queue_patterns import QueuePatterns, QueuePatternWatch
from .reliable_fetch import ReliableFetch
from .task import JobTask

if TYPE_CHECKING:
    from celery import Celery

    from .base import ApplicationJob

logger = logging.getLogger(__name__)


def init_app(app: Celery) -> Settings:
    """Set ``app`` up for jobs; call it once, after the app's configuration is loaded.

    It reads the ``activejob_*`` settings, registers one Celery task per job class (classes
    defined later are registered as they are defined), makes priorities 0-9 exact on Redis,
    lets workers started without ``-Q`` consume the job queues, and attaches the log lines.

    Example:
        >>> app = Celery("shop", broker="redis://localhost:6379/0")   # doctest: +SKIP
        >>> activejob_celery.init_app(app)                           # doctest: +SKIP
    """
    _check_protocol(app)
    settings = Settings.from_app(app)
    runtime.install(app, settings)  # closes what an earlier init_app of this app opened
    internals.check_shapes()  # one WARNING per part whose Celery/kombu internals moved
    use_settings(settings)
    use_celery_app(app)
    _configure_transport(app)
    if "pickle" in (app.conf.accept_content or ()):
        logger.warning(
            "accept_content includes pickle; job tasks only ever use JSON, but a pickle message "
            "to any task can run code when decoded. Remove pickle from accept_content."
        )
    for job_class in registry.job_classes():
        register_task(app, job_class)
    registry.add_listener(_register_everywhere)
    routing.declare_job_queues(app)  # so `celery purge` and workers without -Q see them
    discovery.extend_autodiscovery(app)  # autodiscover_tasks() also imports jobs modules
    app.steps["worker"].update((JobQueues, QueuePatterns))
    app.steps["consumer"].add(QueuePatternWatch)
    app.steps["worker"].add(QueueOrderStep)  # --queue-weights / --queue-order (queue_order.py)
    app.steps["consumer"].add(QueueOrderFetch)
    add_worker_options(app)
    log_subscriber.attach()
    worker_shutdown.setup(app)  # continuable jobs see the worker's warm shutdown
    # Each feature package wires itself to the app (scheduler bootstep, dead-letter recorder, ...).
    for feature in (scheduler, dead_letters, recurring, worker, running, status):
        feature.setup(app, settings)
    _install_direct(app)
    _configure_fetch(app, settings)
    results.check_backend(app)  # results need a result backend: say so once
    autoinstall()  # Sentry reporting, when sentry-sdk is already in use in this process
    return settings


def is_initialised(app: Celery) -> bool:
    """Whether ``init_app`` ran for ``app`` in this process."""
    return runtime.is_initialised(app)


def register_task(app: Celery, job_class: type[ApplicationJob]) -> Any:
    """Register the Celery task for ``job_class`` on ``app`` (idempotent)."""
    existing = app.tasks.get(job_class.job_name)
    if existing is not None and getattr(existing, "job_class", None) is job_class:
        return existing
    task_class = type(
        job_class.__name__,
        (JobTask,),
        {"name": job_class.job_name, "job_class": job_class, "__module__": job_class.__module__}
        | job_time_limits(job_class),  # a job's timeout (see timeouts)
    )
    return app.register_task(task_class())


def _register_everywhere(job_class: type[ApplicationJob]) -> None:
    for app in runtime.initialised_apps():
        register_task(app, job_class)
        name = routing.class_queue(app, job_class)
        routing.declare_job_queues(app, [] if name is None else [name])


def _check_protocol(app: Celery) -> None:
    # Job tasks read protocol 2 messages only; protocol 1 would turn every job into a
    # malformed-message dead letter on the worker, so refuse it here instead.
    protocol = app.conf.task_protocol
    if protocol is not None and int(protocol) != 2:
        raise ConfigurationError(
            f"task_protocol = {protocol!r} is not supported: jobs need Celery's message "
            "protocol 2 (the default). Remove task_protocol from the app's configuration "
            "or set task_protocol = 2."
        )


def _configure_transport(app: Celery) -> None:
    # Ten exact priority buckets on Redis, so priority 0..9 orders jobs one by one.
    options = dict(app.conf.broker_transport_options or {})
    options.setdefault("priority_steps", list(range(10)))
    app.conf.broker_transport_options = options
    if is_redis_url(broker_url(app)):
        check_steps(app)  # job priority order needs three or more lists


def _install_direct(app: Celery) -> None:
    # The scheduled set's Redis and message builder also serve immediate jobs (direct publish).
    found = scheduler.publishing_parts(app)
    if found is not None:
        direct.install(*found)


def _configure_fetch(app: Celery, settings: Settings) -> None:
    # The dead-letter step keeps entries a worker cannot read and drops their unacked record;
    # without it such an entry would be restored, and fail, after every visibility timeout.
    guarded = DeadLetterConsumer in app.steps["consumer"]
    if settings.reliable_fetch and guarded:
        app.steps["consumer"].add(ReliableFetch)
        return
    app.steps["consumer"].discard(ReliableFetch)
    if settings.reliable_fetch and is_redis_url(broker_url(app)):
        logger.warning("Reliable fetch is off for app %r: it needs the dead-letter store", app.main)


def job_queue_names(app: Celery | None = None) -> list[str]:
    """The default job queue plus every queue a registered job class is known to use."""
    return routing.job_queue_names(app)


class JobQueues(bootsteps.StartStopStep):  # type: ignore[misc]
    """Worker step: without ``-Q``, also consume the job queues (not only Celery's default)."""

    label = "activejob queues"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        queues = worker.app.amqp.queues
        if not internals.consumes_selected_queues(queues):
            for name in job_queue_names(worker.app):
                queues.select_add(name)
            routing.warn_unlisted_routes(worker.app)
        super().__init__(worker, **kwargs)


__all__ = ["current_settings", "init_app", "job_queue_names", "register_task"]
