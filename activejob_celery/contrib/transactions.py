"""Enqueue after commit: what the Django and SQLAlchemy integrations share.

A job class with ``enqueue_after_transaction_commit = True`` (or the setting
``activejob_enqueue_after_transaction_commit``) enqueued while a transaction is open gets its
``job_id`` and ``provider_job_id`` at once and is published after the outermost commit; a
rollback drops it. A hook (one per integration) says whether a transaction is open and, if so,
keeps the publish call for the commit.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import bulk as bulk_module, enqueuing
from ..config import current_settings
from ..dead_letters.binding import app_in_scope, settings_for
from ..dead_letters.recorder import letter_for_failure, store_letter

if TYPE_CHECKING:
    from ..base import ApplicationJob

logger = logging.getLogger(__name__)

Hook = Callable[["ApplicationJob", Callable[[], None]], bool]
"""``hook(job, publish)``: True when a transaction is open and ``publish`` runs at its commit."""

_hooks: list[Hook] = []


def add_hook(hook: Hook) -> None:
    """Defer enqueues through ``hook`` (the integrations call this; see module docs).

    Example:
        >>> add_hook(lambda job, publish: False)                # doctest: +SKIP
    """
    if hook not in _hooks:
        _hooks.append(hook)
    enqueuing.deferral = defer


def remove_hook(hook: Hook) -> None:
    """Stop deferring through ``hook``."""
    if hook in _hooks:
        _hooks.remove(hook)
    if not _hooks:
        enqueuing.deferral = None


def wants_deferral(job: ApplicationJob) -> bool:
    """The class attribute ``enqueue_after_transaction_commit``, else the setting.

    Example:
        >>> wants_deferral(NotifyJob())                          # doctest: +SKIP
        True
    """
    flag = type(job).enqueue_after_transaction_commit
    if flag is None:
        return current_settings().enqueue_after_transaction_commit
    return bool(flag)


def defer(job: ApplicationJob, bulk: bool = False) -> bool:
    """Keep ``job`` for the commit of the open transaction; False when none is open.

    ``bulk``: from ``perform_all_later``, so published as it publishes (no enqueue callbacks).
    """
    if not _hooks or not wants_deferral(job):
        return False
    reserved = str(uuid.uuid4())
    publish = functools.partial(publish_deferred, job, reserved, bulk)
    for hook in list(_hooks):
        if hook(job, publish):
            job.provider_job_id = reserved
            job.enqueue_error = None
            job.successfully_enqueued = True  # Rails: True until a deferred enqueue fails
            return True
    return False


def publish_deferred(job: ApplicationJob, reserved: str, bulk: bool = False) -> None:
    """Publish ``job`` now (the transaction committed), with the id it was given at enqueue.

    Nothing escapes: a failure sets ``successfully_enqueued`` False, is logged with the job id and
    is kept in the dead-letter store (reason ``enqueue_failed``) when that store is on.
    """
    job.__dict__["_reserved_task_id"] = reserved  # read by CeleryAdapter.prepare
    try:
        if bulk:
            bulk_module.enqueue_flat([job])
        else:
            enqueuing.enqueue_now(job)
    except Exception as error:  # the commit is done: nothing may escape into the caller's code
        job.successfully_enqueued = False
        job.enqueue_error = error
    finally:
        job.__dict__.pop("_reserved_task_id", None)
    if job.enqueue_error is not None:
        report_failure(job, job.enqueue_error)


def report_failure(job: ApplicationJob, error: Exception) -> None:
    """Log a publish that failed after the commit; store it as a dead letter when that is on."""
    logger.error(
        "Could not enqueue %s %s (provider id %s) after the transaction committed: %s",
        job.job_name, job.job_id, job.provider_job_id, error,
    )  # fmt: skip
    app = app_in_scope()
    if app is None:
        return
    try:
        payload: object = job.serialize()
    except Exception:  # the arguments themselves may be what failed
        payload = {"job_id": job.job_id, "job_class": job.job_name}
    letter = letter_for_failure(
        payload,
        error,
        reason="enqueue_failed",
        job=job,
        letter_id=None,
        raw_max_bytes=settings_for(app).dead_letters_raw_max_bytes,
    )
    problem = store_letter(app, letter)
    if problem is not None:
        logger.critical(
            "Could not store dead letter %s of job %s: %s. Record: %s",
            letter.id, job.job_id, problem, json.dumps(letter.to_dict()),
        )  # fmt: skip
