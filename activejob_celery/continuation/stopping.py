"""Whether a running job should stop at its next checkpoint: the one place that decides.

Rails asks ``queue_adapter.stopping?``; so does this. An adapter's ``stopping`` is a bool, or a
callable taking the job and returning a bool or a reason (``"stopping"`` when True).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..status import is_cancelled

logger = logging.getLogger("activejob_celery.continuation")

if TYPE_CHECKING:
    from ..base import ApplicationJob


def stop_reason(job: ApplicationJob) -> str | None:
    """The reason ``job`` must stop at this checkpoint, or None to go on.

    Example:
        >>> stop_reason(job)                                # doctest: +SKIP
        'stopping'
    """
    try:
        adapter: Any = job.adapter()
    except ConfigurationError:
        return None  # perform_now before init_app: nothing can be stopping
    value = getattr(adapter, "stopping", False)
    if callable(value):
        value = value(job)
    if not value:
        return None
    return value if isinstance(value, str) else "stopping"


def should_stop(job: ApplicationJob) -> bool:
    """Whether ``job`` must stop at this checkpoint (its adapter says it is stopping).

    Example:
        >>> should_stop(job)                                # doctest: +SKIP
        False
    """
    return stop_reason(job) is not None


def cancel_requested(job: ApplicationJob) -> bool:
    """Whether ``cancel(job_id)`` was said for ``job`` while a worker runs it.

    Read from the status store at most once a second per job (``is_cancelled``); False outside
    a worker run, where status is off, or when Redis cannot be read (the job goes on; the next
    checkpoint asks again).

    Example:
        >>> cancel_requested(job)                           # doctest: +SKIP
        False
    """
    if job._run_task_id is None:
        return False  # perform_now / eager: only worker runs are cancelled here
    try:
        app = getattr(job.adapter(), "app", None)
        return app is not None and is_cancelled(job.job_id, app=app)
    except ConfigurationError:
        return False  # status is off for this app: there is no cancel flag to read
    except Exception as problem:
        logger.warning("Could not read the cancel flag of job %s: %s", job.job_id, problem)
        return False
