"""The Celery adapter's ``stopping``: true once the worker began shutting down, in every pool.

A warm shutdown (SIGTERM, SIGINT, ``celery control shutdown``) reaches the worker's main
process only: prefork children get no signal and keep running their task. The flag is one byte
of anonymous shared memory (``mmap``, ``MAP_SHARED``) made when this module is imported, which
is before the pool forks its children; the main process writes it, every child reads it with
no system call, so a checkpoint costs nothing measurable. Written by the ``worker_shutting_down``
signal (sent from the signal handler) and by a worker bootstep's ``stop`` (a remote
``shutdown`` command, which sends no signal); cleared when a worker starts.
"""

from __future__ import annotations

import logging
import mmap
import os
from typing import Any

from billiard import current_process
from celery import bootsteps
from celery.signals import worker_process_init, worker_shutting_down

logger = logging.getLogger(__name__)

_flag = mmap.mmap(-1, 1)  # anonymous maps are MAP_SHARED: forked children see the writes
_owner = os.getpid()


def worker_stopping() -> bool:
    """Whether this process's worker began a shutdown (read in the pool process running a job).

    Example:
        >>> worker_stopping()
        False
    """
    return _flag[0] == 1


def mark_stopping(stopping: bool = True) -> None:
    """Set (or clear) the flag every pool process reads.

    Example:
        >>> mark_stopping(False)
    """
    _flag[0] = 1 if stopping else 0


def _on_shutting_down(sender: Any = None, **kwargs: Any) -> None:
    mark_stopping()


def _on_process_init(sender: Any = None, **kwargs: Any) -> None:
    # The solo pool sends this signal in the worker's own process: the flag is right here.
    if current_process().name == "MainProcess":
        return
    if os.getpid() == _owner:  # imported afresh here (spawned, not forked): no shared flag
        logger.warning(
            "This pool process was not forked from the worker (worker pid %s), so continuable "
            "jobs here cannot see a warm shutdown and run to the end; use the default fork "
            "start method for the prefork pool",
            os.getppid(),
        )


worker_shutting_down.connect(_on_shutting_down, weak=False, dispatch_uid="activejob.stopping")
worker_process_init.connect(_on_process_init, weak=False, dispatch_uid="activejob.stopping")


class StoppingFlag(bootsteps.StartStopStep):  # type: ignore[misc]
    """Clears the flag when the worker starts; sets it when the worker stops, before the pool.

    Example:
        >>> app.steps["worker"].add(StoppingFlag)           # doctest: +SKIP
    """

    requires = ("celery.worker.components:Pool",)
    label = "activejob stopping flag"

    def start(self, worker: Any) -> None:
        """A new worker run: nothing is stopping."""
        mark_stopping(False)

    def stop(self, worker: Any) -> None:
        """The worker stops (runs before the pool waits for its tasks)."""
        mark_stopping()

    def terminate(self, worker: Any) -> None:
        """Cold shutdown: also stopping."""
        mark_stopping()


def setup(app: Any) -> None:
    """Add the bootstep to ``app``'s workers (called by ``init_app``).

    Example:
        >>> setup(app)                                      # doctest: +SKIP
    """
    if StoppingFlag not in app.steps["worker"]:
        app.steps["worker"].add(StoppingFlag)
