"""The poller loop without Redis: batching, sleeping, waking early, outages and stopping."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError

from activejob_celery.scheduler.poller import Poller
from activejob_celery.scheduler.store import Release
from tests.support.worker import wait_for


class FakeSet:
    """Stands for a ScheduledSet: hands out scripted release results."""

    key = "activejob:scheduled"
    direct = True
    ahead = 0.0

    def __init__(self, results: list[Release | Exception], batch_size: int = 10) -> None:
        self.results = list(results)
        self.batch_size = batch_size
        self.calls = 0
        self.listeners: list[Callable[[float], None]] = []

    def release(self) -> Release:
        self.calls += 1
        result = self.results.pop(0) if self.results else Release(released=0, next_at=None)
        if isinstance(result, Exception):
            raise result
        return result

    def add_listener(self, listener: Callable[[float], None]) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        self.listeners.remove(listener)


def test_a_full_batch_is_followed_at_once_by_the_next():
    scheduled = FakeSet([Release(10, None), Release(10, None), Release(3, None)])
    poller = Poller(scheduled, interval=1.0)  # type: ignore[arg-type]
    delay = poller._pass()
    assert scheduled.calls == 3 and poller.released == 23
    assert 0.5 <= delay <= 1.0


def test_the_sleep_is_spread_and_never_passes_the_next_run_time():
    poller = Poller(FakeSet([]), interval=2.0)  # type: ignore[arg-type]
    delays = [poller._pass() for _ in range(50)]
    assert all(1.0 <= delay <= 2.0 for delay in delays)
    assert len({round(delay, 3) for delay in delays}) > 10  # pollers do not align
    soon = Poller(FakeSet([Release(0, time.time() + 0.2)]), interval=2.0)  # type: ignore[arg-type]
    assert 0.1 <= soon._pass() <= 0.25
    due = Poller(FakeSet([Release(1, time.time() - 5)]), interval=2.0)  # type: ignore[arg-type]
    assert due._pass() == 0.005


def test_a_redis_outage_is_logged_once_and_waited_out(caplog):
    outage = RedisConnectionError("down")
    scheduled = FakeSet([outage, outage, Release(2, None)])
    poller = Poller(scheduled, interval=0.3)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="activejob_celery.scheduler.poller"):
        assert poller._pass() == 0.3
        assert poller._pass() == 0.3
        poller._pass()
    messages = [record.getMessage() for record in caplog.records]
    assert sum("cannot reach Redis" in message for message in messages) == 1
    assert any("reconnected" in message for message in messages)
    assert poller.released == 2


def test_an_unexpected_error_does_not_kill_the_loop(caplog):
    poller = Poller(FakeSet([RuntimeError("boom"), Release(1, None)]), interval=0.2)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="activejob_celery.scheduler.poller"):
        assert poller._pass() == 0.2
    assert "Scheduler pass failed" in caplog.text
    poller._pass()
    assert poller.released == 1


def test_a_job_scheduled_sooner_wakes_the_sleeping_thread_and_stop_is_prompt():
    scheduled = FakeSet([], batch_size=10)
    poller = Poller(scheduled, interval=30.0)  # type: ignore[arg-type]
    poller.start()
    try:
        wait_for(lambda: scheduled.calls == 1 and poller._wake_at > 0, timeout=5)
        assert poller.running and scheduled.listeners == [poller.wake]
        poller.wake(time.time() + 3600)  # later than planned: no effect
        time.sleep(0.1)
        assert scheduled.calls == 1
        poller.wake(time.time())
        wait_for(lambda: scheduled.calls == 2, timeout=5)
    finally:
        started = time.monotonic()
        poller.stop()
    assert time.monotonic() - started < 2.0
    assert not poller.running and scheduled.listeners == []
    assert "activejob-scheduler" not in [thread.name for thread in threading.enumerate()]


def test_with_an_early_window_a_new_job_wakes_the_poller_that_much_before_its_time():
    scheduled = FakeSet([])
    scheduled.ahead = 1.0
    poller = Poller(scheduled, interval=30.0)  # type: ignore[arg-type]
    poller._wake_at = time.time() + 0.5
    poller.wake(time.time() + 2.0)  # released at +1.0: after the planned wake
    assert not poller._wake.is_set()
    poller.wake(time.time() + 1.3)  # released at +0.3: before it
    assert poller._wake.is_set()
