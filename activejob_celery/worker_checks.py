"""Checks at worker start for jobs that could run twice or die unseen: one WARNING each.

On a Redis broker a message a worker has taken but not acknowledged goes back to its queue after
``broker_transport_options["visibility_timeout"]`` (kombu's default: 3600 s), running or not. A
job that may run longer than that (its hard time limit, or its ``timeout``), or a native-ETA
message held longer than that (``activejob_scheduler = "celery"``), is delivered again while
the first delivery is still going. Interrupted runs are only seen when the run marks have a Redis
to live in (:mod:`.interruptions`). A timeout chosen at enqueue (``set(timeout=...)``) is
checked when its first run starts (:func:`check_enqueued_timeout`).

Example:
    >>> check_at_start(app)        # the dead-letter consumer step calls it   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import timeouts
from .broker_queues import broker_url, is_redis_url
from .dead_letters.binding import settings_for
from .interruptions import ledger_problem
from .perform_body import pool_limit_problem
from .rescue import RetryOn
from .runtime import app_part

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger("activejob_celery.worker")

DEFAULT_VISIBILITY_TIMEOUT = 3600.0
"""kombu's Redis transport default, in seconds."""

_CHECKED = "worker_checks.checked"
"""Part of the app's runtime: ``[True]`` once :func:`check_at_start` logged its warnings."""
_WARNED = "worker_checks.enqueued_timeouts"
"""Part of the app's runtime: what :func:`check_enqueued_timeout` warned of (:class:`_Warned`)."""


def check_at_start(app: Celery) -> None:
    """Log each WARNING below once per app and process (safe to call on every reconnect).

    Example:
        >>> check_at_start(app)                                      # doctest: +SKIP
    """
    checked: list[bool] = app_part(app, _CHECKED, list)
    if checked:
        return
    checked.append(True)
    problem = ledger_problem(app)
    if problem is not None:
        logger.warning(
            "Interrupted runs cannot be detected for app %r: %s. A job whose worker process "
            "dies mid-run runs again without JobInterruptedError and without the "
            "activejob_max_interruptions limit.",
            app.main, problem,
        )  # fmt: skip
    for message in visibility_warnings(app):
        logger.warning(message)


def visibility_timeout(app: Celery) -> float | None:
    """The broker's visibility timeout in seconds, or None when the broker is not Redis.

    Example:
        >>> visibility_timeout(app)         # a redis:// broker: kombu's default  # doctest: +SKIP
        3600.0
    """
    url = broker_url(app) or ""
    if not (is_redis_url(url) or url.split("://", 1)[0].lower() == "sentinel"):
        return None
    options = app.conf.broker_transport_options or {}
    value = options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT)
    return float(value) if isinstance(value, int | float) else DEFAULT_VISIBILITY_TIMEOUT


def visibility_warnings(app: Celery) -> list[str]:
    """One message per job class that may be delivered again while it still runs or waits.

    Example:
        >>> app.conf.task_time_limit = 7200                          # doctest: +SKIP
        >>> visibility_warnings(app)[0]                              # doctest: +SKIP
        'Job shop.jobs.ExportJob may run 7200 s (task_time_limit), longer than ...'
    """
    visibility = visibility_timeout(app)
    if visibility is None:
        return []
    raise_it = "raise broker_transport_options['visibility_timeout']"
    messages = []
    eta = settings_for(app).resolved_scheduler(broker_url(app)) == "celery"
    for task in sorted(_job_tasks(app), key=lambda each: str(each.name)):
        job_class = task.job_class
        longest, where = run_limit(app, task)
        if longest is not None and longest > visibility:
            messages.append(
                f"Job {job_class.job_name} may run {longest:.0f} s ({where}), longer than the "
                f"broker's visibility_timeout ({visibility:.0f} s): a run still going then is "
                f"delivered again and runs twice. {raise_it.capitalize()} above "
                f"{math.ceil(longest)}."
            )
        wait = longest_retry_wait(job_class) if eta else None
        if wait is not None and wait > visibility:
            messages.append(
                f"Job {job_class.job_name} waits up to {wait:.0f} s between retries, and with "
                f"activejob_scheduler='celery' a worker holds that wait as an ETA message, "
                f"delivered again every visibility_timeout ({visibility:.0f} s). Set "
                f"activejob_scheduler='redis', or {raise_it}."
            )
    ahead = settings_for(app).release_ahead
    if not eta and ahead >= visibility / 2:
        messages.append(
            f"activejob_release_ahead ({ahead:g} s) is not far below the broker's "
            f"visibility_timeout ({visibility:.0f} s): a job released that early waits in a "
            f"worker's memory long enough to be delivered again. Lower activejob_release_ahead "
            f"(default 1.0), or {raise_it}."
        )
    if eta:
        messages.append(
            f"activejob_scheduler='celery' on a Redis broker: a job scheduled more than "
            f"visibility_timeout ({visibility:.0f} s) ahead (set(wait=...)) is delivered again "
            f"while it waits and runs more than once. Set activejob_scheduler='redis', or "
            f"{raise_it}."
        )
    return messages


def run_limit(app: Celery, task: Any) -> tuple[float | None, str]:
    """The longest a job task may run, in seconds, and the setting that says so.

    Example:
        >>> run_limit(app, app.tasks[ExportJob.job_name])            # doctest: +SKIP
        (7200.0, 'task_time_limit')
    """
    found: list[tuple[float, str]] = []
    limit = task.time_limit  # Celery copies task_time_limit here unless the task sets its own
    if isinstance(limit, int | float) and limit > 0:
        where = "task_time_limit" if limit == app.conf.task_time_limit else "its task's time_limit"
        found.append((float(limit), where))
    timeout = getattr(task.job_class, "timeout", None)
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        hard = float(timeout) + settings_for(app).timeout_grace  # the task's time_limit
        found = [each for each in found if each[0] != hard]
        found.append((hard, "its timeout + activejob_timeout_grace"))
    if not found:
        return None, ""
    return max(found)


def longest_retry_wait(job_class: Any, limit: int = 25) -> float | None:
    """The longest wait any ``retry_on`` of ``job_class`` asks for (the first ``limit`` retries).

    Example:
        >>> longest_retry_wait(ExportJob)    # retry_on(KeyError, wait=7200)  # doctest: +SKIP
        7200.0
    """
    longest: float | None = None
    for handler in getattr(job_class, "_rescue_handlers", ()):
        if not isinstance(handler, RetryOn):
            continue
        attempts = handler.attempts
        last = min(attempts - 1, limit) if isinstance(attempts, int) else limit
        for executions in range(1, last + 1):
            try:
                wait = handler.strategy.delay(executions, None, 0.0)
            except Exception:  # a computed wait that needs the error: unknown here
                continue
            if isinstance(wait, int | float):
                longest = max(longest or 0.0, float(wait))
    return longest


def check_enqueued_timeout(app: Celery, job: Any, request: Any = None) -> None:
    """The start-up checks, for a run whose timeout came with its enqueue (``set(timeout=...)``).

    The checks at start read each class's ``timeout``; one enqueue's is only known when its run
    starts. Each WARNING is logged once per worker process, job class and check (the first run
    that needs it), where the broker's visibility timeout and the pool apply. The hard limit is
    the one ``request`` (the run's Celery request) carries from its message (the sending app's
    grace), else the timeout + this app's grace. Never raises: a check that fails is logged at
    DEBUG and the run goes on.

    Example:
        >>> check_enqueued_timeout(app, ExportJob.set(timeout=7200).job)  # doctest: +SKIP
    """
    try:
        seconds = float(job._timeout)
        limits = getattr(request, "timelimit", None)
        hard = limits[1] if isinstance(limits, list | tuple) and len(limits) == 2 else None
        if not isinstance(hard, int | float):
            hard = seconds + settings_for(app).timeout_grace
        state: _Warned = app_part(app, _WARNED, _Warned)
        name = job.job_name
        if (name, hard) in state.checked:  # the common case: this class and limit seen
            return
        for check, message in _timeout_problems(app, type(job), name, seconds, hard):
            with state.lock:
                first = (name, check) not in state.warned
                state.warned.add((name, check))
            if first:
                logger.warning(message)
        if len(state.checked) >= _MAX_CHECKED:  # computed timeouts: keep memory bounded
            state.checked.clear()
        state.checked.add((name, hard))
    except Exception as problem:  # a warning's check must never stop a run
        logger.debug("Could not check the timeout of job %s: %s", job.job_id, problem)


class _Warned:
    """What :func:`check_enqueued_timeout` warned of, and the (job, limit) pairs it checked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.warned: set[tuple[str, str]] = set()
        self.checked: set[tuple[str, float]] = set()


_MAX_CHECKED = 1024


def _timeout_problems(
    app: Celery, job_class: Any, name: str, seconds: float, hard: float
) -> list[tuple[str, str]]:
    """(check, WARNING) pairs for one job class run with a chosen timeout and hard limit."""
    found = []
    visibility = visibility_timeout(app)
    if visibility is not None and hard > visibility:
        found.append((
            "visibility",
            f"Job {name} was enqueued with set(timeout={seconds:.15g}): it may run "
            f"{math.ceil(hard)} s (its timeout + activejob_timeout_grace), longer than the "
            f"broker's visibility_timeout ({visibility:.0f} s): a run still going then is "
            f"delivered again and runs twice. Raise broker_transport_options"
            f"['visibility_timeout'] above {math.ceil(hard)}, or give the job a shorter timeout.",
        ))  # fmt: skip
    pool = timeouts.pool()
    problem = pool_limit_problem(pool, "it")
    # A class with its own timeout was named in the pool's WARNING at start already.
    if problem is not None and timeouts.timeout_seconds(job_class) is None:
        found.append((
            "pool",
            f"Job {name} was enqueued with set(timeout={seconds:.15g}) on a {pool} worker. "
            f"{problem}",
        ))  # fmt: skip
    return found


def _job_tasks(app: Celery) -> list[Any]:
    return [task for task in app.tasks.values() if getattr(task, "job_class", None) is not None]
