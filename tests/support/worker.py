"""Celery workers for tests: in-process (thread) and real subprocess, plus ``wait_for``.

Tests must never sleep for long: poll a condition with :func:`wait_for` instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from celery import Celery
from celery.contrib.testing.worker import start_worker

__all__ = ["WorkerProcess", "run_worker", "run_worker_subprocess", "wait_for"]

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy; return that value.

    Raises:
        AssertionError: the deadline passed (the last value seen is in the message).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(interval)


@contextlib.contextmanager
def run_worker(
    app: Celery,
    *,
    pool: str = "solo",
    queues: Sequence[str] | None = None,
    concurrency: int = 1,
    loglevel: str = "WARNING",
    shutdown_timeout: float = 30.0,
    **kwargs: Any,
) -> Iterator[Any]:
    """Run a Celery worker in a thread of this process; yields the ``WorkController``.

    The worker is consuming when the block starts. ``queues`` restricts it to those queues
    (like ``celery worker -Q``; unknown names are created when ``task_create_missing_queues``
    is on, the default); without it the worker consumes the app's default queue set. The
    app's queue selection is restored afterwards so the next worker starts from scratch.
    No ``celery.ping`` check is done, so ``celery.contrib.testing.tasks`` is not needed.
    """
    app_queues = app.amqp.queues
    saved_selection = app_queues._consume_from  # None means "all of task_queues"
    if queues is not None:
        kwargs["queues"] = list(queues)  # -> WorkController.setup_queues -> queues.select()
    try:
        with start_worker(
            app,
            concurrency=concurrency,
            pool=pool,
            loglevel=loglevel,
            perform_ping_check=False,
            shutdown_timeout=shutdown_timeout,
            **kwargs,
        ) as worker:
            yield worker
    finally:
        app_queues._consume_from = saved_selection


class WorkerProcess:
    """A ``python -m celery -A <app_module> worker`` subprocess; use as a context manager.

    Output (stdout and stderr) goes to ``log_path``. Leaving the ``with`` block sends
    SIGTERM (warm shutdown), waits ``stop_timeout`` seconds, then SIGKILLs the process group.
    """

    def __init__(self, args: Sequence[str], *, cwd: str | os.PathLike[str] | None,
                 env: Mapping[str, str], stop_timeout: float = 20.0) -> None:  # fmt: skip
        self.args = list(args)
        self.cwd = cwd
        self.env = dict(env)
        self.stop_timeout = stop_timeout
        self._tmpdir = tempfile.mkdtemp(prefix="aj-worker-")
        self.log_path = Path(self._tmpdir) / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Spawn the worker (does not wait for it to be ready)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: prefork children die with it
            )
        return self

    @property
    def pid(self) -> int:
        """Process id of the worker's main process."""
        assert self.proc is not None, "worker not started"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """Exit status once the process has exited, else None."""
        return None if self.proc is None else self.proc.poll()

    def log_text(self) -> str:
        """Everything the worker wrote to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for Celery's ``<hostname> ready.`` line (logged at INFO level)."""

        def ready() -> bool:
            if self.returncode is not None:
                raise AssertionError(
                    f"worker exited with status {self.returncode} before it was ready:\n"
                    + self.log_text()[-5000:]
                )
            return " ready." in self.log_text()

        try:
            wait_for(ready, timeout, interval=0.05, message="the worker to log 'ready.'")
        except AssertionError as exc:
            if self.returncode is not None:
                raise
            raise AssertionError(f"{exc}\n--- worker log ---\n{self.log_text()[-5000:]}") from None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the worker's main process."""
        assert self.proc is not None, "worker not started"
        self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (simulates a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float | None = None) -> int | None:
        """Warm shutdown: SIGTERM, wait, then SIGKILL the group. Returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # Prefork children left behind by a crashed main process.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.stop()
        if exc_type is not None:
            # Shown by pytest under "Captured stderr" next to the failure.
            print(f"--- worker log ({self.log_path}) ---\n{self.log_text()[-5000:]}",
                  file=sys.stderr)  # fmt: skip


def run_worker_subprocess(
    app_module: str,
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    queues: Sequence[str] | None = None,
    pool: str = "solo",
    concurrency: int = 1,
    hostname: str | None = None,
    extra_args: Sequence[str] = (),
    stop_timeout: float = 20.0,
) -> WorkerProcess:
    """Build a real worker subprocess; ``with`` it to start it, then call ``wait_ready()``.

    ``env`` entries are added to (and override) this process's environment. The worker
    runs with ``--loglevel INFO`` (needed for ``wait_ready``), without mingle, gossip or
    heartbeats (faster start; tests do not need them), and a unique node name. Anything in
    ``extra_args`` is appended last, so it wins.
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    args = [
        sys.executable, "-m", "celery", "-A", app_module, "worker",
        "--pool", pool,
        "--concurrency", str(concurrency),
        "--loglevel", "INFO",
        "--hostname", hostname or f"aj-test-{uuid.uuid4().hex[:8]}@%h",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    if queues:
        args += ["--queues", ",".join(queues)]
    args += list(extra_args)
    return WorkerProcess(args, cwd=cwd, env=full_env, stop_timeout=stop_timeout)
