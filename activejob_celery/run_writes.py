"""A run's status and running-jobs writes: one write when it starts, one when it ends.

In a worker, each run of a job writes its status ``running`` (and reads its cancel flag: a job
cancelled before it started must not run), lists itself as running, and at its end writes its
outcome and unlists itself. Both stores live in the scheduled set's Redis, so the start is one
script (status, cancel check, listing: a cancelled job is never listed) and the end two
commands, sent on the registry's held connection (:mod:`activejob_celery.deferred_replies`)
without waiting. The start's reply is read when the run needs it, just before its concurrency
checks and ``perform``; the end's replies are read with later ones (an error reply is logged).

Example:
    >>> opening = open_run(job, task)                          # doctest: +SKIP
    >>> run = started(opening, job, task)                      # doctest: +SKIP
    >>> close_run(opening, run, "succeeded")                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from typing import Any

from redis.exceptions import ResponseError

from .deferred_replies import DeferredReplies, errors_in
from .joined_scripts import join_scripts, joined_command
from .packed_commands import PLAIN_POOLS
from .run_marks import Ledger, MemoryLedger, Start, start_of
from .running.tracking import (
    PAUSE_AFTER_FAILURE,
    Mark,
    run_record,
    store_for as running_store_for,
    worker_hostname,
)
from .status.store import END, FINAL, START, StatusStore
from .status.tracking import CANCELLED, RunTracker, status_store_for

logger = logging.getLogger("activejob_celery.status")


@dataclasses.dataclass
class Opening:
    """What :func:`open_run` sent: where its reply waits, and what to undo at the run's end.

    Example:
        >>> Opening(None, None, None).listed is None
        True
    """

    deferred: DeferredReplies | None
    status: StatusStore | None
    listed: Mark | None
    marked: tuple[Ledger, list[Any]] | None = None
    """The ledger whose run mark rode with the start, and the ended runs it cleared."""
    start: Start | None = None
    """What the mark said (read by :func:`started`)."""
    mark_problem: BaseException | None = None
    """Why the mark could not be written or read (the run goes on unmarked)."""


def open_run(job: Any, task: Any, mark: tuple[Ledger, str] | None = None) -> Opening | None:
    """Send the run's status start and listing, not waited for; None: the stores differ.

    ``mark``: the ledger and run id of the run's mark, written in the same write when the
    ledger's Redis is the same server and database (``opening.marked`` says whether it was).

    Example:
        >>> opening = open_run(job, task)                      # doctest: +SKIP
    """
    status, running = status_store_for(task.app), running_store_for(task.app)
    if running is None or (status is not None and status.client is not running.client):
        return None  # each store on its own (status.tracking.begin_run, running.job_started)
    hostname, task_id = worker_hostname(task), str(task.request.id)
    listed: Mark | None = None
    if hostname and time.monotonic() >= running.paused_until:
        listed = (running, hostname, task_id)
    if status is None and listed is None:
        return Opening(None, None, None)
    key, record = running.busy_key(hostname), ""
    if listed is not None:
        record = json.dumps(run_record(job, hostname, task_id), default=str)
    commands: list[tuple[Any, ...]]
    if status is None:
        commands = [("HSET", key, task_id, record), ("EXPIRE", key, running.ttl)]
    else:
        keys = [status.key(job.job_id), status.cancel_key(job.job_id)]
        worker = str(getattr(task.request, "hostname", None) or "")
        args: list[Any] = [repr(time.time()), status.waiting_ttl, status.ttl, worker]
        args += [job.job_name, job.queue_name]
        if listed is not None:
            keys.append(key)
            args += [task_id, record, running.ttl]
        commands = [("EVAL", START, len(keys), *keys, *args)]
    marked: tuple[Ledger, list[Any]] | None = None
    if mark is not None and status is not None and _same_redis(mark[0], running.client):
        try:
            command, ended = mark[0].start_command(job.job_id, mark[1])
        except Exception as problem:  # paused: the run goes unmarked, as Ledger.start says
            return _send(running, job, commands, listed, status, None, problem)
        commands = [_joined(commands[0], command)]  # one reply: [status's, mark's]
        marked = (mark[0], ended)
    return _send(running, job, commands, listed, status, marked, None)


def _send(
    running: Any,
    job: Any,
    commands: list[tuple[Any, ...]],
    listed: Mark | None,
    status: StatusStore | None,
    marked: tuple[Ledger, list[Any]] | None,
    mark_problem: BaseException | None,
) -> Opening:
    try:
        _log_errors(running.deferred.send_all(*commands))
    except Exception as problem:
        if marked is not None:
            marked[0].start_failed(marked[1], problem)
            mark_problem = problem  # neither stops a job: the run goes on unlisted, untracked
        running.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
        logger.warning(
            "Could not check or write the status of job %s, nor list it as running (jobs are "
            "not listed for %.0f s): %s",
            job.job_id, PAUSE_AFTER_FAILURE, problem,
        )  # fmt: skip
        return Opening(None, None, None, marked, mark_problem=mark_problem)
    return Opening(running.deferred, status, listed, marked, mark_problem=mark_problem)


def started(opening: Opening, job: Any, task: Any) -> RunTracker | str | None:
    """Read the start's reply: :data:`CANCELLED`, the run's tracker, or None (no status).

    Example:
        >>> started(open_run(job, task), job, task)            # doctest: +SKIP
        <RunTracker ...>
    """
    if opening.status is None or opening.deferred is None:
        return None
    try:
        replies = opening.deferred.collect()
        if not replies:
            raise ConnectionError("the start's reply was lost with its connection")
        if opening.marked is not None:  # one joined reply: the status's and the mark's
            joined = replies.pop()
            replies += joined if isinstance(joined, list) and len(joined) == 2 else [joined] * 2
    except Exception as problem:
        opening.listed = None  # its reply is lost too; the worker's records go with it
        _mark_failed(opening, problem)
        logger.warning("Could not check or write the status of job %s: %s", job.job_id, problem)
        return None
    if opening.marked is not None:
        reply = replies.pop()
        if isinstance(reply, ResponseError) or not replies:
            _mark_failed(opening, reply if isinstance(reply, ResponseError) else None)
        else:
            opening.start = start_of(reply)
        if not replies:
            return None
    _log_errors(errors_in(replies[:-1]))
    if isinstance(replies[-1], ResponseError):
        logger.warning("Could not check or write the status of job %s: %s", job.job_id, replies[-1])
        return None
    if int(replies[-1]):
        opening.listed = None  # a cancelled job is not listed (see status.store.START)
        logger.info(
            "Cancelled job %s (job_id %s) not run: it was cancelled before it started",
            job.job_name, job.job_id,
        )  # fmt: skip
        return CANCELLED
    run = RunTracker(opening.status, job, task)
    job._status_run = run
    return run


def close_run(opening: Opening, run: Any, outcome: str) -> None:
    """Unlist the run and write its ``outcome`` (with progress held back), not waited for.

    Example:
        >>> close_run(opening, run, "succeeded")               # doctest: +SKIP
    """
    commands: list[tuple[Any, ...]] = []
    listed = opening.listed
    if listed is not None:
        store, hostname, task_id = listed
        commands.append(("EVAL", _UNLIST, 1, store.busy_key(hostname), task_id))
    fields: dict[str, str] = {}
    if isinstance(run, RunTracker):
        fields = run.close()
        keys = [run.store.key(run.job_id), run.store.cancel_key(run.job_id)]
        ttl = run.store.ttl if outcome in FINAL else run.store.waiting_ttl
        args: list[Any] = [outcome, repr(time.time()), ttl, run.store.ttl]
        for name, value in fields.items():
            args += [name, value]
        commands.append(("EVAL", END, len(keys), *keys, *args))
    if not commands or opening.deferred is None:
        return
    # One command (unlisting, then the outcome): its errors are read with later replies.
    command = commands[0] if len(commands) == 1 else _joined(*commands)
    try:
        _log_errors(opening.deferred.send_all(command))
    except Exception as problem:  # the connection failed: once more, waited, on the client's own
        logger.debug("Could not send the end of a run (%s); writing it again", problem)
        _close_waited(listed, run, outcome, fields)


def _close_waited(listed: Mark | None, run: Any, outcome: str, fields: dict[str, str]) -> None:
    if listed is not None:
        store, hostname, task_id = listed
        try:
            store.client.hdel(store.busy_key(hostname), task_id)
        except Exception as problem:  # else it leaves with the worker's records
            logger.debug("Could not unlist task %s as running: %s", task_id, problem)
    if isinstance(run, RunTracker):
        try:
            run.store.end(run.job_id, outcome, fields)
        except Exception as problem:  # the outcome stands; only its display is missing
            logger.warning("Could not write status %s of job %s: %s", outcome, run.job_id, problem)


_UNLIST = "return redis.call('HDEL', KEYS[1], ARGV[1])"


def _joined(*commands: tuple[Any, ...]) -> tuple[Any, ...]:
    """``EVAL`` commands as one (see :mod:`activejob_celery.joined_scripts`)."""
    parts = []
    for _, _, count, *rest in commands:
        parts.append((rest[:count], rest[count:]))
    return joined_command(_script(*(command[1] for command in commands)), parts)


@functools.lru_cache(maxsize=8)
def _script(*bodies: str) -> str:
    return join_scripts(*bodies)


def _mark_failed(opening: Opening, problem: BaseException | None) -> None:
    if opening.marked is not None:
        error = problem or ConnectionError("the run mark's reply was lost")
        opening.marked[0].start_failed(opening.marked[1], error)
        opening.mark_problem = error


def _same_redis(ledger: Ledger, client: Any) -> bool:
    """Whether ``ledger`` keeps its marks in the Redis server and database ``client`` uses.

    Only plain pools to one address compare (a Sentinel pool finds its server at connect time).
    """
    if isinstance(ledger, MemoryLedger):
        return False
    if ledger.client is client:
        return True
    mine, theirs = ledger.client.connection_pool, client.connection_pool
    if type(mine) is not type(theirs) or type(mine) not in PLAIN_POOLS:
        return False
    if mine.connection_class is not theirs.connection_class:
        return False
    kwargs, other = mine.connection_kwargs, theirs.connection_kwargs
    if kwargs.get("host") is None and kwargs.get("path") is None:
        return False
    return all(kwargs.get(name) == other.get(name) for name in _SERVER)


_SERVER = ("host", "port", "path", "db", "username", "password")


def _log_errors(errors: list[ResponseError]) -> None:
    for error in errors:
        logger.warning("A status or running-jobs write of an earlier run failed: %s", error)
