"""Where limits and unique locks act: at enqueue, when a run starts, and when it ends.

A job class without ``limits_concurrency`` or ``unique`` pays one attribute lookup. Locks need
the Celery adapter and a Redis (the scheduled set's); other adapters enqueue and run as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis import RedisError

from .. import signals
from ..discarding import discard
from ..errors import DeserializationError, EnqueueError, JobNotUniqueError
from ..failures import job_failed
from .declarations import Limit, Uniqueness
from .locks import BLOCKED, CONFLICT, TAKEN, LockStore
from .stores import store_for_adapter, store_for_app, unblock

if TYPE_CHECKING:
    from ..adapters.base import QueueAdapter
    from ..base import ApplicationJob

logger = logging.getLogger("activejob_celery.concurrency")

_running: set[str] = set()
"""Job ids running in this process under a limit or a unique rule."""
_requeued: set[str] = set()
"""Those of them that re-enqueued themselves during the run (retries)."""
_slot_kept: set[str] = set()
"""Those whose retry, to run now, took the run's slot at enqueue: the run's end keeps it."""

WHILE_EXECUTING_DELAY = 2.0
"""Seconds before a ``while_executing`` duplicate found running is tried again."""


def rules(job: ApplicationJob) -> tuple[Limit | None, Uniqueness | None]:
    """The job class's concurrency limit and uniqueness rule (either may be None).

    Example:
        >>> rules(SyncAccountJob(42))                          # doctest: +SKIP
        (Limit(to=2, ...), None)
    """
    kind = type(job)
    return getattr(kind, "_concurrency_limit", None), getattr(kind, "_uniqueness", None)


def admit(job: ApplicationJob, adapter: QueueAdapter, hand_over: Callable[[], None]) -> None:
    """Enqueue-time checks around ``hand_over`` (the adapter call).

    A unique duplicate is dropped (``successfully_enqueued`` stays False) or raises
    ``JobNotUniqueError``; a job over its limit is parked in Redis (``successfully_enqueued``)
    or discarded. Locks taken here are given back if the adapter call fails.

    Example:
        >>> admit(job, adapter, lambda: hand_to_adapter(job, adapter))   # doctest: +SKIP
    """
    limit, rule = rules(job)
    if limit is None and rule is None:
        return hand_over()
    store = store_for_adapter(adapter)
    if store is None:
        return hand_over()
    handed: list[bool] = []

    def over() -> None:
        handed.append(True)
        hand_over()

    try:
        _admit(job, adapter, over, store, limit, rule)
        if job.successfully_enqueued and not handed:  # pushed by the lock's script, or parked
            note = getattr(adapter, "note_enqueued", None)
            if note is not None:
                note([job], "queued" if job.scheduled_at is None else "scheduled")
    except RedisError as error:  # the locks' Redis is down: the job is not enqueued, and says so
        job.successfully_enqueued = False
        job.enqueue_error = EnqueueError(
            f"Could not take the concurrency/unique lock of {job.job_name}: {error}"
        )
    return None


def _admit(
    job: ApplicationJob,
    adapter: QueueAdapter,
    hand_over: Callable[[], None],
    store: LockStore,
    limit: Limit | None,
    rule: Uniqueness | None,
) -> None:
    # A job to run now, of a kind the direct publisher has proven, is pushed by the lock's own
    # script: taking the lock and enqueueing is one round trip.
    push = _direct_message(job, adapter, store) if job.scheduled_at is None else None
    enqueue_limit = limit if limit is not None and job.scheduled_at is None else None
    unique_key = None
    if (
        rule is not None
        and rule.until != "while_executing"
        and not getattr(job, "_skip_unique", False)
    ):
        unique_key = rule.key_for(job)
        delay = (
            0.0
            if job.scheduled_at is None
            else max(0.0, job.scheduled_at.timestamp() - time.time())
        )
        pushing = push if enqueue_limit is None else None
        if not store.lock(unique_key, job.job_id, rule.ttl + delay, pushing):
            holder = store.lock_holder(unique_key)
            logger.info(
                "Not enqueued %s (job_id %s): a duplicate holds unique key %s (job_id %s)",
                job.job_name, job.job_id, unique_key, holder,
            )  # fmt: skip
            _send(signals.discarded_by_limit, job, key=unique_key, reason="not_unique")
            if rule.on_conflict == "raise":
                raise JobNotUniqueError(
                    f"{job.job_name} {job.job_id} is not unique: {holder} holds {unique_key}"
                )
            return
        if pushing is not None:
            return _pushed(job)
    slot_key = None
    if enqueue_limit is not None:
        slot_key = enqueue_limit.key_for(job)
        taken = _acquire(store, enqueue_limit, slot_key, job, job.serialize, push)
        if taken == TAKEN and job.job_id in _running:
            _slot_kept.add(job.job_id)  # the slot this run holds is the retry's now
        if taken == TAKEN and push is not None:
            return _pushed(job)
        if taken != TAKEN:
            if taken == BLOCKED:
                job.successfully_enqueued = True
            elif unique_key is not None:
                store.unlock(unique_key, job.job_id)
            return
    try:
        hand_over()
        if job.successfully_enqueued and job.job_id in _running:
            _requeued.add(job.job_id)  # a retry from inside the run: "executed" keeps its lock
    finally:
        if not job.successfully_enqueued:
            _slot_kept.discard(job.job_id)
            if slot_key is not None:
                unblock(store, store.release(slot_key, job.job_id), adapter, key=slot_key)
            if unique_key is not None:
                store.unlock(unique_key, job.job_id)


def _direct_message(
    job: ApplicationJob, adapter: QueueAdapter, store: LockStore
) -> tuple[bytes, bytes] | None:
    direct = getattr(adapter, "direct", None)
    if direct is None or direct.client is not store.client or not direct.usable():
        return None
    try:
        message: tuple[bytes, bytes] | None = direct.message_for(job)
    except Exception:  # not encodable here: the usual publish path reports it
        return None
    return message


def _pushed(job: ApplicationJob) -> None:
    job.successfully_enqueued = True
    if job.job_id in _running:
        _requeued.add(job.job_id)


def begin_run(job: ApplicationJob, app: Any, payload: Any) -> bool:
    """A worker is about to run ``job``: True to run it, False if it was parked or put off.

    Example:
        >>> if begin_run(job, task.app, payload):              # doctest: +SKIP
        ...     perform_now(job)
    """
    limit, rule = rules(job)
    if rule is not None and job._skip_unique:
        rule = None  # Job.set(unique=False): no unique mode applies, while_executing included
    if limit is None and rule is None:
        return True
    store = store_for_app(app)
    if store is None:
        return True
    try:
        job.decode_arguments()  # keys are callables of the arguments
    except DeserializationError:
        return True  # the run raises it, inside the job's rescue handlers
    running = rule is not None and rule.until == "while_executing"
    if rule is not None and running and not store.lock(rule.key_for(job), job.job_id, rule.ttl):
        logger.info(
            "Put off %s (job_id %s) for %.0fs: a duplicate is running (unique key %s)",
            job.job_name, job.job_id, WHILE_EXECUTING_DELAY, rule.key_for(job),
        )  # fmt: skip
        job.enqueue(wait=WHILE_EXECUTING_DELAY)
        if not job.successfully_enqueued:  # never dropped: kept as a dead letter with its reason
            error = job.enqueue_error or EnqueueError(f"{job.job_name} could not be put off")
            job_failed(payload, error, reason="enqueue_failed", job=job)
        return False
    if limit is not None and job.scheduled_at is not None:
        # A job enqueued to run now took its slot at enqueue (or was given one when it was
        # unblocked); a scheduled one (a retry with a wait too) takes it now that it is due.
        taken = _acquire(store, limit, limit.key_for(job), job, lambda: payload)
        if taken != TAKEN:
            if rule is not None and running:
                store.unlock(rule.key_for(job), job.job_id)
            return False
    if rule is not None and rule.until == "executing":
        store.unlock(rule.key_for(job), job.job_id)
    _running.add(job.job_id)
    return True


def end_run(job: ApplicationJob, app: Any) -> None:
    """A run ended: free its slot (unblocking one job per slot) and its unique lock.

    An ``"executed"`` lock is kept when the run re-enqueued the job (a retry), else freed:
    the job succeeded, was discarded, handled its error or failed for good. The slot is kept
    when that retry, to run now, took it at enqueue (the message is out, holding it).

    Example:
        >>> end_run(job, task.app)                             # doctest: +SKIP
    """
    _running.discard(job.job_id)
    finished = job.job_id not in _requeued
    _requeued.discard(job.job_id)
    slot_kept = job.job_id in _slot_kept
    _slot_kept.discard(job.job_id)
    limit, rule = rules(job)
    if limit is None and rule is None:
        return
    store = store_for_app(app)
    if store is None:
        return
    # In a worker the writes leave the run's path: the end-of-run writer sends them (batched).
    later = job._run_task_id is not None
    if limit is not None and not slot_kept:
        key = limit.key_for(job)
        if later:
            store.release_later(key, job.job_id, lambda parked: _unblock(store, parked, app, key))
        else:
            _unblock(store, store.release(key, job.job_id), app, key)
    if rule is not None and job._skip_unique:
        rule = None  # it took no unique lock
    if rule is not None and (
        rule.until == "while_executing" or (finished and rule.until == "executed")
    ):
        if later:
            store.unlock_later(rule.key_for(job), job.job_id)
        else:
            store.unlock(rule.key_for(job), job.job_id)


def _unblock(store: LockStore, parked: list[dict[str, Any]], app: Any, key: str) -> None:
    if parked:
        unblock(store, parked, None, app=app, key=key)


def _acquire(
    store: Any,
    limit: Limit,
    key: str,
    job: ApplicationJob,
    payload: Callable[[], Any],
    push: tuple[bytes, bytes] | None = None,
) -> int:
    # The payload is encoded only when the key is full (a second call parks it, atomically
    # taking a slot instead if one was freed in between): one round trip in the common case.
    options = {"to": limit.to, "duration": limit.duration, "priority": job.priority}
    taken = int(store.acquire(key, job.job_id, block=False, push=push, **options))
    if taken == CONFLICT and limit.on_conflict == "block":
        parked = {"payload": payload()}
        taken = int(store.acquire(key, job.job_id, block=True, parked=parked, push=push, **options))
    if taken == BLOCKED:
        logger.info(
            "Blocked %s (job_id %s) by its concurrency limit: %s has %d running",
            job.job_name, job.job_id, key, limit.to,
        )  # fmt: skip
        _send(signals.blocked, job, key=key, reason="limit")
    elif taken == CONFLICT:
        logger.info(
            "Discarded %s (job_id %s) by its concurrency limit: %s has %d running",
            job.job_name, job.job_id, key, limit.to,
        )  # fmt: skip
        _send(signals.discarded_by_limit, job, key=key, reason="limit")
        discard(job, None)
    return taken


def _send(signal: Any, job: ApplicationJob, **payload: Any) -> None:
    if signal.receivers:
        signal.send(type(job), job=job, **payload)
