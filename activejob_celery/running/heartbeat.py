"""The worker bootstep that lists the worker in the registry and keeps its heartbeat going.

Example:
    >>> app.conf.activejob_worker_heartbeat_interval = 5.0     # the default  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import bootsteps
from celery.signals import worker_shutdown

from .store import RunningStore
from .tracking import serve_worker, store_for

logger = logging.getLogger(__name__)

_by_worker: dict[int, Heartbeat] = {}


class Heartbeat:
    """Writes the worker's record at start and every ``interval`` seconds from a daemon thread.

    Example:
        >>> beat = Heartbeat(store, worker)                    # doctest: +SKIP
        >>> beat.start(); beat.stop()                          # doctest: +SKIP
    """

    def __init__(self, store: RunningStore, worker: Any) -> None:
        self.store = store
        self.worker = worker
        self.hostname = str(worker.hostname)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def fields(self) -> dict[str, Any]:
        """What the registry shows of the worker (queues are read again on every beat)."""
        worker = self.worker
        return {
            "hostname": self.hostname,
            "pid": os.getpid(),
            "pool": pool_name(getattr(worker, "pool_cls", None)),
            "concurrency": getattr(worker, "concurrency", None),
            "queues": self._queues(),
        }

    def _queues(self) -> list[str]:
        # Read from this thread while the consumer may add a queue (-Q 'prefix*'): retry then.
        for _ in range(3):
            try:
                return sorted(self.worker.app.amqp.queues.consume_from or ())
            except RuntimeError:  # the dict changed size while it was read
                continue
        return []

    def start(self) -> None:
        """Register the worker and start beating."""
        try:
            self.store.register(self.hostname, self.fields())
        except Exception as problem:  # the registry is for people: the worker runs on
            logger.warning("Could not list worker %s as running: %s", self.hostname, problem)
        _by_worker[id(self.worker)] = self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="activejob-heartbeat", daemon=True)
        self._thread.start()

    def beat(self) -> None:
        """One heartbeat (raises what Redis raises); unlists the runs of processes that died."""
        self.store.heartbeat(self.hostname, self.fields())
        for run in self.store.unlist_dead(self.hostname, pid_alive):
            logger.warning(
                "Unlisted job %s (task %s) as running: its pool process %s died mid-run",
                run.get("job_id"), run.get("provider_job_id"), run.get("pid"),
            )  # fmt: skip

    def stop(self) -> None:
        """A warm shutdown began: the worker shows as ``stopping`` while its pool finishes.

        It keeps beating until the worker has stopped (``worker_shutdown``), so the jobs it
        finishes stay listed.
        """
        try:
            self.store.stopping(self.hostname)
        except Exception as problem:  # its records expire by themselves
            logger.debug("Could not mark worker %s as stopping: %s", self.hostname, problem)

    def terminate(self) -> None:
        """A cold shutdown (or the end of a warm one): stop beating and remove the records."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        _by_worker.pop(id(self.worker), None)
        try:
            self.store.unregister(self.hostname)
        except Exception as problem:  # they expire by themselves
            logger.debug("Could not unlist worker %s: %s", self.hostname, problem)

    def _run(self) -> None:
        while not self._stopping.wait(self.store.interval):
            try:
                self.beat()
            except Exception as problem:
                if not self._failing:
                    logger.warning("Worker heartbeat to Redis failed (retrying): %s", problem)
                self._failing = True
            else:
                self._failing = False


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a pool process of this worker).

    Example:
        >>> pid_alive(os.getpid())
        True
    """
    if pid <= 0:  # not a process id (0 and below name process groups)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # exists (another user's), or no pid at all: kept
        return True
    return True


def pool_name(pool_cls: Any) -> str:
    """``prefork``, ``solo``, ``threads``, ... from a Celery pool class or its name.

    Example:
        >>> from celery.concurrency.solo import TaskPool
        >>> pool_name(TaskPool)
        'solo'
    """
    if pool_cls is None:
        return ""
    if isinstance(pool_cls, str):
        return pool_cls.rsplit(".", 1)[-1].split(":")[0]
    module = str(getattr(pool_cls, "__module__", "") or "")
    name = module.rsplit(".", 1)[-1]
    return name or str(getattr(pool_cls, "__name__", pool_cls))


class WorkerRegistry(bootsteps.StartStopStep):  # type: ignore[misc]
    """Lists the worker (hostname, pool, concurrency, queues) and beats while it runs.

    Added by ``init_app`` when the scheduled set's Redis is there. It starts after the pool,
    marks the worker ``stopping`` when a warm shutdown begins and removes it once the worker
    has stopped (the jobs it finishes stay listed until they end); a cold shutdown removes it
    at once.

    Example:
        >>> WorkerRegistry in app.steps["worker"]              # doctest: +SKIP
        True
    """

    label = "activejob worker registry"
    requires = ("celery.worker.components:Pool",)

    def create(self, worker: Any) -> Any:
        """Build the heartbeat; Celery then calls its ``start()`` and ``stop()``."""
        store = store_for(worker.app)
        if store is None:
            return None
        serve_worker(str(worker.hostname))  # before the pool forks: its children list under it
        return Heartbeat(store, worker)


def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    beat = _by_worker.get(id(sender))
    if beat is not None:
        beat.terminate()


# Sent by the worker's main process once a warm shutdown has finished its jobs.
worker_shutdown.connect(_on_worker_shutdown, weak=False, dispatch_uid="activejob_celery.running")
