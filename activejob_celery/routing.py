"""Queue precedence with Celery's routing: ``task_routes``, ``task_default_queue``, declared queues.

A job's queue is, first to last: ``set(queue=)``, ``queue_as``, a ``task_routes`` entry matching
its ``job_name`` (Celery's own router: globs, regexes, lists, router functions),
``activejob_default_queue_name`` when set, Celery's ``task_default_queue`` when the app changed it
from ``"celery"``, and ``"default"``. The first two live in :mod:`.queue_name`; this module gives
the rest, the queues a worker without ``-Q`` consumes, and declares them in ``app.amqp.queues`` so
``celery purge`` and ``celery inspect active_queues`` see them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celery.app.routes import MapRoute

from . import queue_name as names, registry
from .adapters import celery_app
from .config import PREFIX, current_settings
from .errors import ConfigurationError
from .runtime import app_part

if TYPE_CHECKING:
    from celery import Celery

    from .base import ApplicationJob

logger = logging.getLogger(__name__)

CELERY_DEFAULT_QUEUE = "celery"
"""Celery's own ``task_default_queue``; a job uses the setting only when the app changed it."""


@dataclasses.dataclass(frozen=True)
class RoutingConf:
    """What routing reads from an app's configuration, read once (Celery's conf is slow to read).

    Example:
        >>> RoutingConf.of(app).celery_default                  # doctest: +SKIP
        'proj'
    """

    has_routes: bool
    default_given: bool
    """Whether ``activejob_default_queue_name`` was set on the app."""
    celery_default: str | None
    """``task_default_queue`` when the app changed it from ``"celery"``, else None."""
    router: Any = None
    """Celery's router (``app.amqp.router``) when ``task_routes`` is set."""
    functions: tuple[Any, ...] = ()
    """The ``task_routes`` entries that are functions."""

    @classmethod
    def of(cls, app: Celery) -> RoutingConf:
        """The app's routing configuration, read on first use and kept until init_app runs again."""
        return app_part(app, _PART, lambda: cls._read(app))

    @classmethod
    def _read(cls, app: Celery) -> RoutingConf:
        """Read the routing configuration of ``app`` from its conf."""
        conf = app.conf
        key = PREFIX + "default_queue_name"
        name = conf.task_default_queue
        router = app.amqp.router if conf.task_routes else None
        routes = () if router is None else router.routes
        return cls(
            has_routes=router is not None,
            router=router,
            functions=tuple(route for route in routes if not isinstance(route, MapRoute)),
            default_given=conf.get(key) is not None
            or conf.get("CELERY_" + key.upper()) is not None,
            celery_default=(
                name if isinstance(name, str) and name not in ("", CELERY_DEFAULT_QUEUE) else None
            ),
        )


_PART = "routing.conf"
"""The app's :class:`RoutingConf`: a part of its runtime, read on first use."""


def job_app(job: ApplicationJob) -> Celery | None:
    """The app that routes ``job``: its Celery adapter's, else the one ``init_app`` set up."""
    try:
        app = getattr(job.adapter(), "app", None)
    except ConfigurationError:  # no adapter yet: enqueueing will say so
        app = None
    return app if app is not None else celery_app()


def route_queue(app: Celery, job_name: str, args: tuple[Any, ...] = ()) -> str | None:
    """The queue a ``task_routes`` entry gives ``job_name``, or None when none matches.

    Celery's router is asked as ``send_task`` asks it: ``args`` is ``(payload,)`` for a job
    (empty when asking for a whole class). A router function that raises counts as no route
    here; Celery calls it again when publishing and raises there (an ``EnqueueError``).

    Example:
        >>> app.conf.task_routes = {"shop.jobs.*": {"queue": "jobs_all"}}  # doctest: +SKIP
        >>> route_queue(app, "shop.jobs.ReceiptJob")                     # doctest: +SKIP
        'jobs_all'
    """
    router = RoutingConf.of(app).router
    if router is None:
        return None
    try:
        route = router.lookup_route(job_name, args, {}, {}, app.tasks.get(job_name))
    except Exception as error:  # a user's router function; Celery raises it when publishing
        logger.debug("task_routes raised for %s: %r; no route taken", job_name, error)
        return None
    if isinstance(route, Mapping):
        route = route.get("queue")
    name = getattr(route, "name", route)  # a kombu Queue or its name
    return name if isinstance(name, str) and name else None


def router_functions(app: Celery) -> list[Any]:
    """The ``task_routes`` entries that are functions (they may route by a job's arguments)."""
    return list(RoutingConf.of(app).functions)


def job_routed_queue(job: ApplicationJob) -> str | None:
    """:func:`routed_queue` for one job; a router function sees the job's payload.

    The payload it is shown names the queue the job's name alone routes to (a job's
    ``queue_name`` is part of its payload); whatever the function answers for it wins.

    Example:
        >>> job_routed_queue(InvoiceJob(tenant="big"))          # doctest: +SKIP
        'invoices_big'
    """
    app = job_app(job)
    routed = routed_queue(app, job.job_name)
    if app is None or not router_functions(app):
        return routed
    job._queue_name = routed if routed is not None else names.queue_name_from_part(None)
    try:
        payload = job.serialize()
    except Exception:  # an argument that cannot be serialized: enqueueing will say so
        return routed
    finally:
        job._queue_name = None
    by_payload = route_queue(app, job.job_name, (payload,))
    return by_payload if by_payload is not None else routed


def warn_unlisted_routes(app: Celery) -> None:
    """At the start of a worker without ``-Q``: say that router functions' queues may be missed.

    Example:
        >>> warn_unlisted_routes(app)                           # doctest: +SKIP
    """
    functions = router_functions(app)
    if functions:
        logger.warning(
            "task_routes has a router function (%r): this worker, started without -Q, consumes "
            "the queues it gives each job class by name, not ones it picks from a job's "
            "arguments. Name those queues with -Q (or in task_queues).",
            functions[0],
        )


def routed_queue(app: Celery | None, job_name: str) -> str | None:
    """The queue after ``queue_as``: a route, else Celery's changed default, else None.

    None stands for ``activejob_default_queue_name`` (``"default"`` unless set). Celery's
    ``task_default_queue`` is used, as written, only when the app changed it from ``"celery"``
    and ``activejob_default_queue_name`` is not set.

    Example:
        >>> app.conf.task_default_queue = "proj"                # doctest: +SKIP
        >>> routed_queue(app, "shop.jobs.ReceiptJob")           # doctest: +SKIP
        'proj'
    """
    if app is None:
        return None
    routed = route_queue(app, job_name)
    return routed if routed is not None else celery_default_queue(app)


def celery_default_queue(app: Celery) -> str | None:
    """Celery's ``task_default_queue`` when it decides a job's default queue, else None.

    Example:
        >>> Celery("proj", set_as_current=False).conf.task_default_queue   # doctest: +SKIP
        'celery'
    """
    conf = RoutingConf.of(app)
    if conf.default_given or current_settings().default_queue_name != "default":
        return None
    return conf.celery_default


def default_queue(app: Celery | None) -> str:
    """The queue of a job nothing routes: ``activejob_default_queue_name`` or Celery's default.

    Example:
        >>> default_queue(app)                                  # doctest: +SKIP
        'default'
    """
    changed = None if app is None else celery_default_queue(app)
    return changed if changed is not None else names.queue_name_from_part(None)


def class_queue(app: Celery | None, job_class: type[ApplicationJob]) -> str | None:
    """The queue every job of ``job_class`` uses, or None when ``queue_as`` is a callable."""
    source = job_class._queue_name_source
    if source is not None and not isinstance(source, str):
        return None
    if source is not None:
        return names.queue_name_from_part(source)
    routed = routed_queue(app, job_class.job_name)
    return routed if routed is not None else names.queue_name_from_part(None)


def job_queue_names(app: Celery | None = None) -> list[str]:
    """The default job queue plus every queue a registered job class is known to use.

    Example:
        >>> job_queue_names(app)                                # doctest: +SKIP
        ['default', 'reports', 'jobs_all']
    """
    app = app if app is not None else celery_app()
    found = [default_queue(app)]
    for job_class in registry.job_classes():
        name = class_queue(app, job_class)
        if name is not None and name not in found:
            found.append(name)
    return found


def declare_job_queues(app: Celery, queue_names: list[str] | None = None) -> None:
    """Add the job queues to ``app.amqp.queues`` (what ``celery purge`` and workers read).

    A worker started without ``-Q`` consumes every queue there; one started with ``-Q`` keeps
    its selection (the queues are declared, not selected).

    Example:
        >>> declare_job_queues(app)                             # doctest: +SKIP
        >>> "default" in app.amqp.queues                        # doctest: +SKIP
        True
    """
    queues = app.amqp.queues
    for name in job_queue_names(app) if queue_names is None else queue_names:
        if name not in queues:
            queues.add(name)


__all__ = [
    "celery_default_queue",
    "class_queue",
    "declare_job_queues",
    "default_queue",
    "job_app",
    "job_queue_names",
    "job_routed_queue",
    "route_queue",
    "routed_queue",
    "router_functions",
    "warn_unlisted_routes",
]
