"""Interrupted deliveries: a run that started and never finished is seen by the next delivery.

Each run of a job marks its start in Redis (the dead-letter store's Redis): the hash
``activejob:running:<job_id>`` holds the task id of the run in progress and how many of the
job's deliveries were interrupted so far. A run that ends in any way clears its mark. When a
message is delivered again with the same task id and its mark is still there, the process that
ran it died mid-run (SIGKILL, OOM, a hard crash): the count goes up and the new run starts by
raising :class:`~activejob_celery.errors.JobInterruptedError`, or, after
``activejob_max_interruptions`` interruptions, becomes a ``killed`` dead letter.

A message redelivered while its first run is still going (a visibility timeout shorter than the
run) is counted too: the broker handed the same message out twice, so one run is a duplicate.

Example:
    >>> ledger = ledger_for(app)                                    # doctest: +SKIP
    >>> ledger.start(job.job_id, task_id).interruptions              # doctest: +SKIP
    0
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

from celery.signals import worker_process_shutdown, worker_shutdown

from .dead_letters.binding import built_store, is_set_up, settings_for, store_for
from .dead_letters.redis_store import RedisDeadLetterStore
from .run_marks import Ledger, MemoryLedger, Start

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "Ledger",
    "MemoryLedger",
    "Start",
    "finish_quietly",
    "flush_all",
    "ledger_for",
    "ledger_problem",
    "run_id",
    "task_ledger",
]

logger = logging.getLogger(__name__)

_ledgers: weakref.WeakKeyDictionary[Any, Ledger] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def ledger_for(app: Celery) -> Ledger | None:
    """The run marks of ``app`` (those of its dead-letter store), or None when dead letters are off.

    Example:
        >>> ledger_for(app).start("job-1", "task-1")                 # doctest: +SKIP
        Start(interrupted=False, interruptions=0)
    """
    made = built_store(app)  # the common case: this store's ledger is known (no lock)
    known = _ledgers.get(made) if made is not None else None
    if known is not None:
        return known
    if not is_set_up(app):
        return None
    store = store_for(app)  # one per app and settings, so its ledger is too
    with _lock:
        ledger = _ledgers.get(store)
        if ledger is None:
            settings = settings_for(app)
            if isinstance(store, RedisDeadLetterStore):
                ledger = Ledger(store.client, settings)
            else:
                ledger = MemoryLedger(settings)
            _ledgers[store] = ledger
        return ledger


def ledger_problem(app: Celery) -> str | None:
    """Why interrupted runs cannot be seen across processes for ``app``, or None when they can.

    Example:
        >>> ledger_problem(app)                                      # doctest: +SKIP
        'the dead-letter store is off; set activejob_dead_letters_url'
    """
    if not is_set_up(app):
        return (
            "the dead-letter store is off, so runs cannot be marked; set activejob_dead_letters_url"
        )
    try:
        ledger = ledger_for(app)
    except Exception as error:  # a store that cannot be built: say so, do not stop the worker
        return f"the dead-letter store cannot be reached ({error}); set activejob_dead_letters_url"
    if isinstance(ledger, MemoryLedger):
        return (
            "the dead-letter store is in memory, so a mark dies with its process; "
            "set activejob_dead_letters_url to a Redis URL"
        )
    return None


def task_ledger(task: Any, *, in_worker: bool = False) -> Ledger | None:
    """The run marks for ``task``'s app when it runs in a worker (``in_worker``: known to).

    Example:
        >>> task_ledger(app.tasks[ExportJob.job_name])   # outside a worker  # doctest: +SKIP
        None
    """
    if task is None:
        return None
    request = task.request
    if not in_worker and (request is None or request.called_directly or request.is_eager):
        return None
    try:
        return ledger_for(task.app)
    except Exception as error:  # no store: run unmarked (the worker said so at start)
        logger.debug("No run marks for %s: %s", task.name, error)
        return None


def run_id(task_id: str, executions: int) -> str:
    """The mark's name for one run: the task id and the job's ``executions`` before the run.

    A retry from a worker publishes under the same task id (as Celery's ``Task.retry`` does) with
    one more execution, so it is a new run; a redelivery of the same message is the same run.

    Example:
        >>> run_id("5f0c9d6e", 2)
        '5f0c9d6e#2'
    """
    return f"{task_id}#{executions}"


def flush_all() -> None:
    """Clear every mark still waiting for a next start in this process (at its shutdown).

    Example:
        >>> flush_all()                                              # doctest: +SKIP
    """
    with _lock:
        ledgers = list(_ledgers.values())
    for ledger in ledgers:
        try:
            ledger.flush()
        except Exception as error:  # a mark left behind expires; it only over-counts a redelivery
            logger.warning("Could not clear run marks at shutdown: %s", error)


def finish_quietly(
    ledger: Ledger, job_id: str, task_id: str, *, done: bool, later: bool = False
) -> None:
    """:meth:`Ledger.finish` (``later``: :meth:`Ledger.finish_later`), logging, never raising.

    Example:
        >>> finish_quietly(ledger, job.job_id, task_id, done=True)   # doctest: +SKIP
    """
    try:
        if later:
            ledger.finish_later(job_id, task_id, done=done)
            return
        ledger.finish(job_id, task_id, done=done)
    except Exception as error:  # a mark left behind expires; it only over-counts a redelivery
        logger.warning("Could not clear the run mark of job %s (%s): %s", job_id, task_id, error)


def _flush_at_shutdown(**_: Any) -> None:
    flush_all()


# A prefork child or a solo worker clears the marks of its last runs as it exits.
for _signal in (worker_process_shutdown, worker_shutdown):
    _signal.connect(_flush_at_shutdown, weak=False, dispatch_uid="activejob_celery.interruptions")
