"""Job timeouts: ``timeout = timedelta(...)`` on a job class, ``JobTimeoutError`` inside perform.

Who enforces the timeout depends on where the job runs:

* the main thread of a process (a prefork child, a solo worker, a script): ``SIGALRM`` from
  ``signal.setitimer``, whose handler raises ``JobTimeoutError`` where perform is (it
  interrupts ``time.sleep``), so ``except JobTimeoutError`` inside perform sees it. Celery's
  soft limit is not used for it: it raises ``SoftTimeLimitExceeded`` inside perform, which
  perform's own ``except JobTimeoutError`` would miss (it is translated at perform's edge, for
  ``task_soft_time_limit`` set by the app);
* any other thread (the threads pool): a timer thread that raises ``JobTimeoutError`` in the
  job's thread (``PyThreadState_SetAsyncExc``): seen at the next Python bytecode, so a job
  blocked in one long C call sees it when that call returns;
* the hard limit, on prefork: the job task's ``time_limit`` = ``timeout`` +
  ``activejob_timeout_grace``; Celery kills the child and the job becomes a ``killed`` dead
  letter (:mod:`.job_request`). Solo and threads cannot kill a job (a WARNING at start).

``async def perform`` jobs use the event loop instead (:mod:`.async_run`). ``set(timeout=...)``
gives one enqueue its own timeout (the job's ``_timeout``, carried by its payload); its hard
limit rides in the message's ``timelimit`` header (:mod:`.adapters.celery`).

Example:
    >>> class ExportJob(ApplicationJob):                      # doctest: +SKIP
    ...     timeout = timedelta(minutes=10)
    ...     retry_on(JobTimeoutError, wait=60, attempts=3)
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeGuard

from celery.exceptions import SoftTimeLimitExceeded

from .errors import ConfigurationError, JobTimeoutError
from .runtime import runtime_for

_state = threading.local()
_pool: list[str | None] = [None]
"""The pool of the worker this process belongs to (``prefork``, ``solo``, ...), None outside."""


def timeout_seconds(subject: Any) -> float | None:
    """The timeout of a job (its ``set(timeout=...)``, else its class's) or a class, or None.

    Raises:
        ConfigurationError: the class's timeout is not a timedelta or a positive number.

    Example:
        >>> class Job:
        ...     timeout = timedelta(minutes=2)
        >>> timeout_seconds(Job)
        120.0
    """
    chosen = getattr(subject, "_timeout", None)  # one enqueue's set(timeout=...), checked there
    if chosen is not None:
        return float(chosen)
    value = getattr(subject, "timeout", None)
    if value is None:
        return None
    try:
        return checked_seconds(value)
    except ConfigurationError:
        owner = subject if isinstance(subject, type) else type(subject)
        raise ConfigurationError(
            f"{getattr(owner, '__qualname__', owner)}.timeout = {value!r}: use a timedelta or "
            "a positive number of seconds (or None)"
        ) from None


def is_seconds(value: Any) -> TypeGuard[int | float]:
    """Whether ``value`` is a number of seconds a timeout may be: positive, under 10^9 s.

    Example:
        >>> is_seconds(30), is_seconds(0), is_seconds(True), is_seconds("30")
        (True, False, False, False)
    """
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 < value < 1e9


def checked_seconds(value: Any) -> float:
    """``value`` (a timedelta or a positive number) in seconds.

    Raises:
        ConfigurationError: anything else.

    Example:
        >>> checked_seconds(timedelta(seconds=90))
        90.0
    """
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not is_seconds(value):
        raise ConfigurationError(f"timeout={value!r}: use a timedelta or a positive number")
    return float(value)


def task_limits(job_class: Any, grace: float) -> dict[str, float]:
    """The Celery time limit for the task of ``job_class`` (empty without a ``timeout``).

    Only the hard limit: the soft one is ours (see the module docs), and Celery's would also
    land inside an event loop's own code for an async job and break the loop.

    Example:
        >>> class Job:
        ...     timeout = 60
        >>> task_limits(Job, 30.0)
        {'time_limit': 90.0}
    """
    seconds = timeout_seconds(job_class)
    return {} if seconds is None else {"time_limit": seconds + grace}


def message_limits(payload: Any, app: Any) -> dict[str, float]:
    """The ``time_limit`` a job's message carries for its ``set(timeout=...)``; else empty.

    The hard limit is the timeout + the sending app's ``activejob_timeout_grace``. A payload
    whose ``timeout`` is not a positive number gets none (the worker refuses the payload).

    Example:
        >>> message_limits({"timeout": 60.0}, app)           # doctest: +SKIP
        {'time_limit': 90.0}
    """
    timeout = payload.get("timeout") if isinstance(payload, dict) else None
    if not is_seconds(timeout):
        return {}
    return {"time_limit": timeout + runtime_for(app).settings.timeout_grace}


def set_pool(kind: str | None) -> None:
    """Record the pool of this worker process (the worker start hook calls it)."""
    _pool[0] = kind


def pool() -> str | None:
    """The pool of this worker process, or None outside a worker.

    Example:
        >>> pool() is None                                    # outside a worker
        True
    """
    return _pool[0]


def timed_out(job: Any, seconds: float | None = None) -> JobTimeoutError:
    """The ``JobTimeoutError`` for ``job`` (its message names the job and its timeout).

    Example:
        >>> str(timed_out(job, 2.0))                          # doctest: +SKIP
        'ExportJob 0b7c... passed its timeout of 2 s'
    """
    seconds = timeout_seconds(job) if seconds is None else seconds
    limit = "its time limit" if seconds is None else f"its timeout of {seconds:g} s"
    return JobTimeoutError(f"{job.job_name} {job.job_id} passed {limit}")


@contextlib.contextmanager
def translated(job: Any) -> Iterator[None]:
    """Raise Celery's ``SoftTimeLimitExceeded`` (and a bare ``JobTimeoutError``) as ours.

    Example:
        >>> with translated(job):                             # doctest: +SKIP
        ...     job.perform()
    """
    try:
        yield
    except SoftTimeLimitExceeded as error:
        raise timed_out(job) from error
    except JobTimeoutError as error:
        if error.args:
            raise
        raise timed_out(job) from None  # raised by our timer, which has no message to give


@contextlib.contextmanager
def scope(job: Any) -> Iterator[None]:
    """Enforce the ``timeout`` of a sync ``job`` around its run (see the module docs).

    Example:
        >>> with scope(job):                                  # doctest: +SKIP
        ...     run_callbacks(job, callbacks, body)
    """
    seconds = timeout_seconds(job)
    if seconds is None or pool() in ("eventlet", "gevent"):
        with translated(job):
            yield
        return
    alarm = (
        threading.current_thread() is threading.main_thread()
        and hasattr(signal, "setitimer")
        and not getattr(_state, "active", False)
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
    )
    timer = _Alarm(seconds) if alarm else _Watchdog(seconds)
    _state.active = True
    try:
        with translated(job):
            timer.start()
            try:
                yield
            finally:
                timer.stop()
    finally:
        _state.active = False


class _Alarm:
    """``SIGALRM`` after ``seconds``; its handler raises ``JobTimeoutError`` in the main thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self.armed:
            self.armed = False
            raise JobTimeoutError

    def start(self) -> None:
        self.armed = True
        signal.signal(signal.SIGALRM, self._handler)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def stop(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


class _Watchdog:
    """A timer thread that raises ``JobTimeoutError`` in the thread that started it."""

    def __init__(self, seconds: float) -> None:
        self.thread_id = threading.get_ident()
        self.lock = threading.Lock()
        self.armed = False
        self.fired = False
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        with self.lock:
            if self.armed:
                self.fired = True
                _async_raise(self.thread_id, JobTimeoutError)

    def start(self) -> None:
        self.armed = True
        self.timer.start()

    def stop(self) -> None:
        self.timer.cancel()
        with self.lock:
            self.armed = False
            if self.fired:  # not raised yet (or already): a pending one must not escape later
                _async_raise(self.thread_id, None)


def _async_raise(thread_id: int, error: type[BaseException] | None) -> None:
    # CPython's documented C API; None clears an exception not yet raised in that thread.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(error) if error is not None else None
    )
