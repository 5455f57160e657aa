"""Forks while this package's threads run: a child never inherits a lock one of them holds.

`celery worker -B` forks its embedded beat, and prefork forks pool processes, while the
scheduler poller and the job counters' flusher may be mid-work in their threads.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from activejob_celery.scheduler.poller import Poller, SchedulerPoller
from activejob_celery.scheduler.store import Release
from activejob_celery.worker import metrics

pytestmark = pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")


def fork_and_report(child: callable) -> bytes:
    """Fork; the child writes ``child()``'s bytes to a pipe and exits. Returns what it wrote."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        try:
            os.write(write_end, child())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        report = reader.read()
    os.waitpid(pid, 0)
    return report


class SlowSet:
    """A scheduled set whose release pass takes a while; records whether the pass finished."""

    key = "activejob:scheduled"
    direct = True
    batch_size = 10

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.finished = False

    def release(self) -> Release:
        self.entered.set()
        time.sleep(0.3)
        self.finished = True
        return Release(released=0, next_at=None)

    def add_listener(self, listener: object) -> None:
        pass

    def remove_listener(self, listener: object) -> None:
        pass


def test_a_fork_waits_for_the_pollers_running_pass_and_the_child_has_no_poller_thread():
    scheduled = SlowSet()
    poller = Poller(scheduled, interval=60.0)  # type: ignore[arg-type]
    poller.start()
    try:
        assert scheduled.entered.wait(10)

        def child() -> bytes:
            free = poller._pass_lock.acquire(blocking=False)
            return f"{scheduled.finished} {free} {poller.running}".encode()

        assert fork_and_report(child) == b"True True False"
        assert poller.running  # the parent's poller goes on
    finally:
        poller.stop()


def test_a_fork_waits_for_the_counters_lock():
    holding = threading.Event()

    def hold() -> None:
        with metrics._lock:
            holding.set()
            time.sleep(0.3)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    try:
        assert fork_and_report(lambda: str(metrics._lock.acquire(timeout=5)).encode()) == b"True"
    finally:
        thread.join()


def test_the_poller_starts_after_the_embedded_beat_has_forked():
    # Celery turns the names into step classes once a blueprint has used the step.
    names = [getattr(step, "name", step) for step in SchedulerPoller.requires]
    assert "celery.worker.components.Beat" in [str(name).replace(":", ".") for name in names]
