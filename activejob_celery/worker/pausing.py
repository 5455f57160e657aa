"""Pause and resume consumption of a queue, remembered in Redis so restarted workers keep it.

Pausing broadcasts Celery's ``cancel_consumer`` to the workers consuming the queue and records
the queue and those workers; resuming sends ``add_consumer`` to exactly those workers, so a
worker that never consumed the queue does not start now. Jobs keep arriving in a paused queue
and wait there. A worker that starts while a queue is paused stops consuming it at once
(:class:`KeepPaused`) and is recorded with the others.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import Any, cast

from celery import bootsteps

from ..errors import ConfigurationError
from .state import redis_for, settings_of

logger = logging.getLogger(__name__)

CONTROL_TIMEOUT = 1.0
"""Seconds to wait for workers' replies to ``active_queues`` and the consumer commands."""


@dataclasses.dataclass(frozen=True)
class PausedQueue:
    """A paused queue: since when, and which workers were told to stop consuming it.

    Example:
        >>> paused_queues(app)["mailers"].workers               # doctest: +SKIP
        ['celery@web-1']
    """

    name: str
    since: datetime
    workers: list[str]


def paused_queues(app: Any) -> dict[str, PausedQueue]:
    """Every paused queue of ``app`` by name (empty without a Redis to remember them in).

    Example:
        >>> sorted(paused_queues(app))                          # doctest: +SKIP
        ['mailers']
    """
    client = redis_for(app)
    if client is None:
        return {}
    key = settings_of(app).key("paused")
    stored = cast("dict[bytes, bytes]", client.hgetall(key))
    since = {name.decode(): float(value) for name, value in stored.items()}
    names = sorted(since)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.smembers(_workers_key(app, name))
        members = pipe.execute()
    return {
        name: PausedQueue(
            name=name,
            since=datetime.fromtimestamp(since[name], timezone.utc),
            workers=sorted(member.decode() for member in found),
        )
        for name, found in zip(names, members, strict=True)
    }


def consuming_workers(app: Any, queue: str, timeout: float = CONTROL_TIMEOUT) -> list[str]:
    """The workers that answer ``active_queues`` with ``queue`` among theirs.

    Example:
        >>> consuming_workers(app, "default")                   # doctest: +SKIP
        ['celery@web-1', 'celery@web-2']
    """
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    return sorted(
        worker
        for worker, queues in replies.items()
        if any(isinstance(entry, dict) and entry.get("name") == queue for entry in queues or ())
    )


def pause(app: Any, queue: str, *, timeout: float = CONTROL_TIMEOUT) -> PausedQueue:
    """Stop every worker consuming ``queue``; jobs wait in it until :func:`resume`.

    The pause is recorded before the workers are told, so a worker starting in between
    still honours it. A job a worker has already fetched (prefetched) still runs.

    Raises:
        ConfigurationError: there is no Redis to remember the pause in.

    Example:
        >>> pause(app, "mailers").workers                       # doctest: +SKIP
        ['celery@web-1']
    """
    client = _client(app)
    workers = consuming_workers(app, queue, timeout)
    with client.pipeline(transaction=True) as pipe:
        pipe.hsetnx(settings_of(app).key("paused"), queue, repr(time.time()))
        if workers:
            pipe.sadd(_workers_key(app, queue), *workers)
        pipe.execute()
    if workers:
        app.control.cancel_consumer(
            queue, destination=workers, reply=True, timeout=timeout, limit=len(workers)
        )
    logger.info("Paused queue %s (workers: %s)", queue, ", ".join(workers) or "none")
    return paused_queues(app).get(queue) or PausedQueue(queue, datetime.now(timezone.utc), [])


def resume(app: Any, queue: str, *, timeout: float = CONTROL_TIMEOUT) -> list[str]:
    """Let the workers that were consuming ``queue`` consume it again; returns their names.

    Raises:
        ConfigurationError: there is no Redis the pause could be remembered in.

    Example:
        >>> resume(app, "mailers")                              # doctest: +SKIP
        ['celery@web-1']
    """
    client = _client(app)
    workers_key = _workers_key(app, queue)
    with client.pipeline(transaction=True) as pipe:
        pipe.smembers(workers_key)
        pipe.hdel(settings_of(app).key("paused"), queue)
        pipe.delete(workers_key)
        members, _, _ = pipe.execute()
    workers = sorted(member.decode() for member in members)
    if workers:
        app.control.add_consumer(
            queue, destination=workers, reply=True, timeout=timeout, limit=len(workers)
        )
    logger.info("Resumed queue %s (workers: %s)", queue, ", ".join(workers) or "none")
    return workers


class KeepPaused(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer step: a starting worker stops consuming the queues that are paused.

    Example:
        >>> app.steps["consumer"].add(KeepPaused)  # web.setup does it  # doctest: +SKIP
    """

    label = "activejob paused queues"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, consumer: Any) -> None:
        """Cancel each paused queue this worker consumes, and record the worker."""
        app = consumer.app
        try:
            paused = paused_queues(app)
        except Exception as error:  # Redis down: consume as configured rather than not start
            logger.warning("Could not read paused queues; consuming every queue: %s", error)
            return
        client = redis_for(app)
        task_consumer = consumer.task_consumer
        # Before the event loop starts nothing consumes yet: look at the queues it will consume.
        consumed = {queue.name for queue in getattr(task_consumer, "queues", None) or ()}
        for name in paused:
            if client is None or name not in consumed:
                continue
            workers_key = _workers_key(app, name)
            try:
                # Join the workers a resume will tell, then check the pause still holds: a
                # resume in between must not leave this worker idle on the queue for good.
                with client.pipeline(transaction=True) as pipe:
                    pipe.sadd(workers_key, consumer.hostname)
                    pipe.hexists(settings_of(app).key("paused"), name)
                    _, still_paused = pipe.execute()
                if not still_paused:
                    client.srem(workers_key, consumer.hostname)
                    continue
            except Exception as error:
                logger.warning("Could not record the pause of %s; consuming it: %s", name, error)
                continue
            consumer.cancel_task_queue(name)
            logger.warning(
                "Queue %s is paused: not consuming it (resume it in the dashboard)", name
            )


def _client(app: Any) -> Any:
    client = redis_for(app)
    if client is None:
        raise ConfigurationError(
            "pausing queues needs Redis: set activejob_dead_letters_url (or use a Redis broker)"
        )
    return client


def _workers_key(app: Any, queue: str) -> str:
    return settings_of(app).key("paused", "workers", queue)
