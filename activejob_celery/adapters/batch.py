"""``CeleryAdapter.prepare`` for a whole ``perform_all_later`` batch, at a fraction of the cost.

What is the same for every job of one class, priority and queue (the message priority, whether
arguments are shown in ``argsrepr``, the repr size limits) is worked out once per batch instead
of once per job; each job still gets its own task id, payload and reprs, exactly as
:meth:`~activejob_celery.adapters.celery.CeleryAdapter.prepare` gives them
(``tests/unit/test_batch_prepare.py`` compares the two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import current_settings
from ..ids import new_ids
from ..queue_priority import celery_priority
from .celery import Outgoing

if TYPE_CHECKING:
    from ..base import ApplicationJob
    from .celery import CeleryAdapter

_FILTERED = {"argsrepr": "[FILTERED]", "kwargsrepr": "[FILTERED]"}


def prepare_all(adapter: CeleryAdapter, jobs: list[ApplicationJob]) -> list[Outgoing]:
    """``[adapter.prepare(job) for job in jobs]``, with each kind's constant parts found once.

    Example:
        >>> [outgoing.task_id for outgoing in prepare_all(adapter, jobs)]   # doctest: +SKIP
        ['0b5c...', '9f1e...']
    """
    app = adapter.app
    amqp = app.amqp
    args_limit, kwargs_limit = amqp.argsrepr_maxsize, amqp.kwargsrepr_maxsize
    default_shown = current_settings().log_arguments
    kinds: dict[tuple[type[Any], int | None, str], tuple[int | None, bool]] = {}
    fresh = iter(new_ids(len(jobs)))
    prepared: list[Outgoing] = []
    for job in jobs:
        # As prepare: a retry keeps its run's task id; a deferred job keeps the id it promised.
        reused = job._run_task_id if job._retrying else None
        reserved = job.__dict__.pop("_reserved_task_id", None)
        job.provider_job_id = task_id = reused or reserved or next(fresh)
        level, queue = job.priority, job.queue_name
        kind = (type(job), level, queue)
        known = kinds.get(kind)
        if known is None:
            shown = type(job).log_arguments
            known = kinds[kind] = (
                celery_priority(level, app, queue),
                default_shown if shown is None else bool(shown),
            )
        priority, shown = known
        payload = job.serialize()
        reprs = (
            {
                "argsrepr": repr(tuple(job.arguments))[:args_limit],
                "kwargsrepr": repr(job.keyword_arguments)[:kwargs_limit],
            }
            if shown
            else dict(_FILTERED)
        )
        prepared.append(Outgoing(task_id, payload, priority, reprs))
    return prepared
