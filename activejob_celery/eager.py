"""Eager mode: with Celery's ``task_always_eager`` the Celery adapter runs jobs inline.

Celery's eager mode runs a task in the caller through ``Task.apply()``, the code path a worker
runs (so ``retry_on``, ``discard_on``, ``after_discard`` and callbacks behave as in a worker),
and ``task_eager_propagates`` decides whether an error reaches the caller. Jobs follow it: no
broker is touched, ``set(wait=...)`` runs at once (Celery's eager mode ignores ``countdown`` and
``eta`` too), and a ``retry_on`` retry runs at once, inside the failed run, as Celery runs an
eager task's ``self.retry()``.

Example:
    >>> app.conf.task_always_eager = True                     # doctest: +SKIP
    >>> ReportJob.perform_later(7).successfully_enqueued      # the job has run  # doctest: +SKIP
    True
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .errors import EnqueueError
from .results import keep_eager, wants_results

if TYPE_CHECKING:
    from celery import Celery

    from .base import ApplicationJob


def is_eager(app: Celery) -> bool:
    """Whether ``app`` runs tasks eagerly (Celery's ``task_always_eager``).

    Example:
        >>> is_eager(app)                                     # doctest: +SKIP
        False
    """
    return bool(app.conf.task_always_eager)


def run_eagerly(app: Celery, job: ApplicationJob) -> Any:
    """Run ``job`` now through its Celery task's ``apply()``; returns Celery's ``EagerResult``.

    Errors reach the caller when ``task_eager_propagates`` is on (Celery's rule).

    Raises:
        EnqueueError: no task is registered for the job (``init_app`` was not run on ``app``).

    Example:
        >>> run_eagerly(app, ReportJob(7)).get()              # doctest: +SKIP
    """
    task = app.tasks.get(job.job_name)
    if task is None:
        raise EnqueueError(
            f"No Celery task {job.job_name!r} on app {app.main!r} to run eagerly; "
            "call activejob_celery.init_app(app)"
        )
    job.provider_job_id = task_id = str(uuid.uuid4())
    outcome = task.apply(args=(job.serialize(),), task_id=task_id)
    if outcome.failed() and wants_results(type(job)):
        keep_eager(job.result_id or task_id, outcome.result)
    return outcome
