"""A connection error while the worker takes in a fetched job: it runs once, never a dead letter.

kombu's ``QoS.append`` writes the unacked record after the pop; when that write fails on the
connection (a failover, a blip), the message is neither delivered nor malformed. The worker
holds it and puts it back on its queue through the app's own client, and Celery reconnects.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from activejob_celery import ApplicationJob, perform_all_later, queue_as, reliable_fetch
from activejob_celery.dead_letters import store_for, transport
from activejob_celery.dead_letters.consumer import MessageKeeper, put_back_at_shutdown
from activejob_celery.dead_letters.put_back import HeldEntry, held, put_back
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

QUEUE = "put_back"
RUNS: list[str] = []


class TakenInJob(ApplicationJob):
    queue_as(QUEUE)

    def perform(self, marker: str) -> None:
        RUNS.append(marker)


@pytest.fixture
def failing_write(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """kombu's unacked write of the job ``'target'`` fails once on the connection (a failover).

    Returns the holds the worker made, ``(tag, recorded)`` each.
    """
    plain_execute = redis.client.Pipeline.execute
    failed: list[bool] = []

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        writes = [part for command, _ in self.command_stack for part in command[1:]]
        if not failed and any(isinstance(part, bytes | str) and "'target'" in str(part)
                              for part in writes):  # fmt: skip
            failed.append(True)
            self.reset()
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        return plain_execute(self, *args, **kwargs)

    holds: list[Any] = []
    plain_hold = transport.hold

    def hold(*args: Any, **kwargs: Any) -> None:
        holds.append((args[4], kwargs["recorded"]))
        plain_hold(*args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    monkeypatch.setattr(transport, "hold", hold)
    monkeypatch.setattr(reliable_fetch, "FRESH_FOR", -1.0)  # kombu writes every entry again
    return holds


@pytest.mark.parametrize(
    ("reliable", "prefix", "after"),
    [(True, "", True), (True, "pfx:", True), (True, "", False), (False, "", True)],
    ids=["recorded", "recorded-prefixed", "blocking-pop", "no-reliable-fetch"],
)
def test_the_job_goes_back_on_its_queue_and_runs_once(
    aj_redis: Any,
    failing_write: list[Any],
    caplog: pytest.LogCaptureFixture,
    reliable: bool,
    prefix: str,
    after: bool,
) -> None:
    options = {"global_keyprefix": prefix} if prefix else {}
    app = make_app(
        aj_redis.url, activejob_reliable_fetch=reliable, broker_transport_options=options
    )
    store = store_for(app)
    RUNS.clear()
    with (
        caplog.at_level(logging.WARNING, logger="activejob_celery"),
        run_worker(app, queues=[QUEUE]),
    ):
        # The idle worker waits in BRPOP: the first job comes that way, the next by the script.
        jobs = [TakenInJob("first"), TakenInJob("target")] if after else [TakenInJob("target")]
        perform_all_later(jobs)
        wait_for(lambda: sorted(RUNS) == sorted(job.arguments[0] for job in jobs), timeout=30)
        TakenInJob.perform_later("later")  # the worker reconnected and carries on
        wait_for(lambda: "later" in RUNS, timeout=30, message="the next job ran")
    app.close()
    recorded = reliable and after  # only the script records what it pops
    [(tag, was_recorded)] = failing_write  # the failure was injected, once
    assert isinstance(tag, str) and was_recorded == recorded
    assert sorted(RUNS) == sorted([*(job.arguments[0] for job in jobs), "later"])  # once each
    assert store.count() == 0  # not a malformed_message dead letter
    client = aj_redis.client
    assert client.hlen(f"{prefix}unacked") == 0 and client.zcard(f"{prefix}unacked_index") == 0
    assert not [key for key in client.keys("*") if key.startswith(b"put_back")]  # none unprefixed
    assert "is put back on its queue in 0 s" in caplog.text


def test_a_connection_error_after_the_job_ran_puts_nothing_back(
    aj_redis: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The job ran (solo: inside the read) and was acked, then the connection failed. kombu
    # still holds its tag as delivered (until its next flush), so nothing is put back: that
    # would run it a second time. Celery reconnects.
    plain_guard = MessageKeeper.guard_strategy
    failed: list[bool] = []

    def guard_strategy(self: Any, strategy: Any) -> Any:
        guarded = plain_guard(self, strategy)

        def then_fail(message: Any, *args: Any, **kwargs: Any) -> Any:
            result = guarded(message, *args, **kwargs)  # solo: the job ran and was acked
            if not failed and "'target'" in str(message.headers.get("argsrepr")):
                failed.append(True)
                raise redis.exceptions.ConnectionError("Connection closed by server.")
            return result

        return then_fail

    monkeypatch.setattr(MessageKeeper, "guard_strategy", guard_strategy)
    app = make_app(aj_redis.url)
    RUNS.clear()
    with (
        caplog.at_level(logging.WARNING, logger="activejob_celery"),
        run_worker(app, queues=[QUEUE]),
    ):
        TakenInJob.perform_later("target")
        wait_for(lambda: RUNS == ["target"], timeout=30)
        TakenInJob.perform_later("later")  # the worker reconnected and carries on
        wait_for(lambda: "later" in RUNS, timeout=30, message="the next job ran")
    app.close()
    assert failed, "the failure was never injected"
    assert RUNS == ["target", "later"]  # once each
    assert "put back" not in caplog.text and store_for(app).count() == 0


class _Consumer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.timer = _Timer()


class _Timer:
    def __init__(self) -> None:
        self.calls: list[tuple[float, Any]] = []

    def call_after(self, delay: float, action: Any) -> None:
        self.calls.append((delay, action))


def _entry(tag: str, recorded: bool, marker: str = "m1") -> HeldEntry:
    return HeldEntry(QUEUE, b'{"an": "entry"}', tag, recorded, "unacked", "unacked_index", marker)


def _record(client: Any, tag: str) -> None:
    client.hset("unacked", tag, "[record]")
    client.zadd("unacked_index", {tag: 1.0})


def test_a_recorded_entry_goes_back_only_while_its_record_is_there(
    aj_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(aj_redis.url)
    keeper = MessageKeeper(_Consumer(app))
    client = aj_redis.client
    _record(client, "tag-1")
    assert put_back(keeper, _entry("tag-1", True)) is True
    assert client.lrange(QUEUE, 0, -1) == [b'{"an": "entry"}']
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0
    # Restored meanwhile (kombu's restore took the record): not put back a second time.
    with caplog.at_level(logging.ERROR, logger="activejob_celery"):
        assert put_back(keeper, _entry("tag-1", True, marker="m2")) is True
    assert client.llen(QUEUE) == 1
    assert "its unacked record is gone" in caplog.text and '{"an": "entry"}' in caplog.text
    app.close()


def test_an_entry_nothing_recorded_goes_back_once_and_drops_a_record_kombu_made(
    aj_redis: Any,
) -> None:
    app = make_app(aj_redis.url)
    keeper = MessageKeeper(_Consumer(app))
    client = aj_redis.client
    _record(client, "tag-2")  # kombu's own write made it, its reply was lost
    entry = _entry("tag-2", False)
    assert put_back(keeper, entry) is True
    assert put_back(keeper, entry) is True  # a retry of the same hold: done already
    assert client.llen(QUEUE) == 1 and client.hlen("unacked") == 0
    assert put_back(keeper, _entry("", False, marker="m3")) is True  # another hold: back again
    assert client.llen(QUEUE) == 2
    app.close()


def test_while_the_broker_is_down_it_is_tried_again_with_a_backoff(aj_redis: Any) -> None:
    app = make_app("redis://127.0.0.1:1/0")  # nothing listens there
    consumer = _Consumer(app)
    keeper = MessageKeeper(consumer)
    entry = _entry("", False)
    held(keeper)[entry.marker] = entry
    assert put_back(keeper, entry) is False
    consumer.timer.calls[-1][1]()  # the retry the timer holds fails again, and backs off more
    assert [delay for delay, _ in consumer.timer.calls] == [1.0, 2.0]
    assert entry.tries == 2 and held(keeper) == {entry.marker: entry}
    app.close()


def test_at_shutdown_each_held_entry_is_tried_once_more(aj_redis: Any) -> None:
    app = make_app(aj_redis.url)
    consumer = _Consumer(app)
    keeper = MessageKeeper(consumer)
    entry = _entry("", False)
    held(keeper)[entry.marker] = entry
    put_back_at_shutdown(sender=SimpleNamespace(consumer=consumer))
    assert aj_redis.client.llen(QUEUE) == 1 and held(keeper) == {}
    assert consumer.timer.calls == []
    app.close()


def test_an_entry_the_store_cannot_take_while_it_is_down_goes_back_on_its_queue(
    aj_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The dead-letter store is down: a queue entry that is not a message is put back on its
    # list after the store's backoff (through the app's client), popped again, and so on.
    app = make_app(aj_redis.url, activejob_dead_letters_url="redis://127.0.0.1:1/0")
    aj_redis.client.lpush(QUEUE, b"not a message")
    with (
        caplog.at_level(logging.WARNING, logger="activejob_celery"),
        run_worker(app, queues=[QUEUE]),
    ):
        wait_for(lambda: f"Held entry is back on '{QUEUE}'" in caplog.text, timeout=30)
        wait_for(lambda: caplog.text.count("Could not store") >= 2, timeout=30)  # popped again
    app.close()
    assert "is put back on its queue in 1 s: b'not a message'" in caplog.text
