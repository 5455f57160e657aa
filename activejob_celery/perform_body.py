"""The body of a run: sync or async, inside the job's timeout; and the worker's hooks for them.

:func:`run_perform` is what :func:`~activejob_celery.execution.perform_now` calls for the
perform callbacks and ``perform``. At worker start the pool is recorded (it decides how a
timeout is enforced, see :mod:`.timeouts`) and one WARNING names the job classes whose timeout
the pool cannot fully enforce; at worker (process) shutdown the job event loops are closed.

Example:
    >>> run_perform(job, type(job)._perform_callbacks, lambda: job.perform())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import signals
from celery.exceptions import SoftTimeLimitExceeded

from . import async_loops, async_run, registry, timeouts
from .callbacks import Callback, run_callbacks
from .config import current_settings

logger = logging.getLogger("activejob_celery.worker")

_POOLS = {"prefork": "prefork", "processes": "prefork", "solo": "solo", "threads": "threads"}
_POOLS.update({"thread": "threads", "eventlet": "eventlet", "gevent": "gevent"})


def run_perform(job: Any, callbacks: tuple[Callback, ...], body: Callable[[], Any]) -> Any:
    """Run ``body`` inside ``callbacks``: on the job loop when async, else in the timeout scope.

    Returns what :func:`~activejob_celery.callbacks.run_callbacks` returns.

    Example:
        >>> run_perform(job, type(job)._perform_callbacks, lambda: job.perform())  # doctest: +SKIP
        42
    """
    job_class = type(job)
    perform = job_class.perform
    known = _async_classes.get(job_class)
    if known is None or known[0] is not callbacks or known[1] is not perform:
        is_async = async_run.is_async(perform, callbacks)
        known = _async_classes[job_class] = (callbacks, perform, is_async)
    if known[2]:
        return async_run.run_job(job, callbacks, body)
    with async_loops.sync_gate():
        if timeouts.timeout_seconds(job) is None:  # the common case: no wrapper on the way
            try:
                return run_callbacks(job, callbacks, body)
            except SoftTimeLimitExceeded as error:  # Celery's task_soft_time_limit
                raise timeouts.timed_out(job) from error
        with timeouts.scope(job):
            return run_callbacks(job, callbacks, lambda: _translated(job, body))


_async_classes: dict[type, tuple[tuple[Callback, ...], Any, bool]] = {}
"""Per job class: its perform callbacks (the tuple itself), its perform, whether it is async."""


def job_time_limits(job_class: Any) -> dict[str, float]:
    """The Celery time limits of ``job_class``'s task (``register_task`` adds them).

    Example:
        >>> class Job:
        ...     timeout = None
        >>> job_time_limits(Job)
        {}
    """
    return timeouts.task_limits(job_class, current_settings().timeout_grace)


def _translated(job: Any, body: Callable[[], Any]) -> Any:
    with timeouts.translated(job):  # so around callbacks see JobTimeoutError, as perform raised it
        return body()


def pool_kind(pool_cls: Any) -> str:
    """The pool a worker's ``pool_cls`` (an alias or a class) names.

    Example:
        >>> pool_kind("solo"), pool_kind("processes")
        ('solo', 'prefork')
    """
    if isinstance(pool_cls, str):
        name = pool_cls.rsplit(":", 1)[-1].rsplit(".", 1)[-1].lower()
        module = pool_cls.split(":", 1)[0].lower()
    else:
        name, module = "", str(getattr(pool_cls, "__module__", "")).lower()
    if name in _POOLS:
        return _POOLS[name]
    tail = module.rsplit(".", 1)[-1]
    if module.startswith("celery.concurrency.") and tail in _POOLS:
        return _POOLS[tail]
    return "custom"


def start_warnings(pool: str, job_classes: list[Any], async_concurrency: int) -> list[str]:
    """The WARNINGs a worker with ``pool`` logs at start (one per problem).

    Example:
        >>> start_warnings("prefork", [], 1)
        []
    """
    timed = sorted(cls.job_name for cls in job_classes if timeouts.timeout_seconds(cls))
    messages = []
    problem = pool_limit_problem(pool, "them")
    if timed and problem is not None:
        messages.append(f"Jobs with a timeout on the {pool} pool: {', '.join(timed)}. {problem}")
    if async_concurrency > 1 and pool != "solo":
        messages.append(
            f"activejob_async_concurrency = {async_concurrency} is only used by solo workers "
            f"(--pool solo); on the {pool} pool async jobs run one at a time per pool slot."
        )
    return messages


def pool_limit_problem(pool: str | None, subject: str) -> str | None:
    """What ``pool`` cannot enforce of a job's timeout, or None (prefork, or not a worker).

    ``subject`` names the jobs in the advice ("them", "it").

    Example:
        >>> pool_limit_problem("prefork", "it") is None
        True
        >>> pool_limit_problem("gevent", "it").startswith("The timeout is not enforced")
        True
    """
    if pool in (None, "prefork"):
        return None
    if pool not in ("solo", "threads"):
        return (
            f"The timeout is not enforced on this pool; run {subject} on a prefork, solo or "
            "threads worker (--pool)."
        )
    late = (
        " and a job blocked in one long C call (time.sleep, a socket read without a "
        "timeout) sees JobTimeoutError only when that call returns"
        if pool == "threads"
        else ""
    )
    return (
        "The hard limit (timeout + activejob_timeout_grace) cannot be enforced here: a job that "
        f"catches JobTimeoutError keeps running{late}. Run {subject} on a prefork worker "
        "(--pool prefork) to have a stuck job killed and kept as a 'killed' dead letter."
    )


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    kind = pool_kind(getattr(sender, "pool_cls", "prefork"))
    concurrency = current_settings().async_concurrency
    if kind == "solo" and concurrency > 1 and sender is not None:
        # N pool threads take jobs; async ones all run on one loop thread, sync ones one at a
        # time (async_loops.sync_gate); Celery builds the pool after this signal.
        sender.pool_cls, sender.concurrency = "threads", concurrency
        async_loops.start_shared_loop()
        logger.info(
            "activejob_async_concurrency = %d: up to %d async jobs run at once on one event "
            "loop; sync jobs still run one at a time",
            concurrency, concurrency,
        )  # fmt: skip
        kind, concurrency = "threads", 1  # sync jobs run in those threads: timeouts as there
    timeouts.set_pool(kind)
    try:
        messages = start_warnings(kind, registry.job_classes(), concurrency)
    except Exception as problem:  # a bad timeout value: said here, raised at init_app/first run
        messages = [str(problem)]
    for message in messages:
        logger.warning(message)


def _close_loops(**_: Any) -> None:
    async_loops.close_loops()


def _worker_stopped(**_: Any) -> None:
    async_loops.stop_shared_loop()
    async_loops.close_loops()
    timeouts.set_pool(None)  # a worker run inside a test process: its next runs are outside one


signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="activejob_celery.pool")
signals.worker_process_shutdown.connect(
    _close_loops, weak=False, dispatch_uid="activejob_celery.loops.child"
)
signals.worker_shutdown.connect(_worker_stopped, weak=False, dispatch_uid="activejob_celery.loops")
