"""A connection error while the worker takes in a fetched job: it runs once, never a dead letter.

kombu's ``QoS.append`` writes the unacked record after the pop; when that write fails on the
connection (a failover, a blip), the message is neither delivered nor malformed. The worker
holds it and puts it back on its queue through the app's own client, and Celery reconnects.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
from kombu.transport import redis as kombu_redis

from activejob_celery import ApplicationJob, queue_as
from activejob_celery.dead_letters import store_for
from activejob_celery.dead_letters.consumer import MessageKeeper
from activejob_celery.dead_letters.put_back import HeldEntry, put_back
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

QUEUE = "put_back"
RUNS: list[str] = []


class TakenInJob(ApplicationJob):
    queue_as(QUEUE)

    def perform(self, marker: str) -> None:
        RUNS.append(marker)


@pytest.fixture
def failing_append(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """kombu's unacked write fails once on the connection, as during a failover."""
    plain = kombu_redis.QoS.append
    failed: list[str] = []

    def append(self: Any, message: Any, delivery_tag: Any) -> None:
        if not failed:
            failed.append(delivery_tag)
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        plain(self, message, delivery_tag)

    monkeypatch.setattr(kombu_redis.QoS, "append", append)
    return failed


@pytest.mark.parametrize(
    ("reliable", "prefix"),
    [(True, ""), (False, ""), (True, "pfx:")],
    ids=["recorded", "not-recorded", "recorded-prefixed"],
)
def test_the_job_goes_back_on_its_queue_and_runs_once(
    aj_redis: Any,
    failing_append: list[str],
    caplog: pytest.LogCaptureFixture,
    reliable: bool,
    prefix: str,
) -> None:
    options = {"global_keyprefix": prefix} if prefix else {}
    app = make_app(
        aj_redis.url, activejob_reliable_fetch=reliable, broker_transport_options=options
    )
    store = store_for(app)
    RUNS.clear()
    TakenInJob.perform_later("once")  # queued before the worker starts: the script pops it
    with (
        caplog.at_level(logging.WARNING, logger="activejob_celery"),
        run_worker(app, queues=[QUEUE]),
    ):
        wait_for(lambda: RUNS == ["once"], timeout=30, message="the job ran")
        TakenInJob.perform_later("after")  # the worker reconnected and carries on
        wait_for(lambda: RUNS == ["once", "after"], timeout=30, message="the next job ran")
    app.close()
    assert failing_append, "the unacked write never failed: the test proved nothing"
    assert store.count() == 0  # not a malformed_message dead letter
    client = aj_redis.client
    assert client.hlen(f"{prefix}unacked") == 0 and client.zcard(f"{prefix}unacked_index") == 0
    assert not [key for key in client.keys("*") if key.startswith(b"put_back")]  # none unprefixed
    assert "is put back on its queue in 0 s" in caplog.text


class _Consumer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.timer = _Timer()


class _Timer:
    def __init__(self) -> None:
        self.calls: list[tuple[float, Any]] = []

    def call_after(self, delay: float, action: Any) -> None:
        self.calls.append((delay, action))


def _entry(tag: str | None) -> HeldEntry:
    return HeldEntry(QUEUE, b'{"an": "entry"}', tag, "unacked", "unacked_index")


def test_a_recorded_entry_goes_back_only_while_its_record_is_there(aj_redis: Any) -> None:
    app = make_app(aj_redis.url)
    keeper = MessageKeeper(_Consumer(app))
    client = aj_redis.client
    client.hset("unacked", "tag-1", "[record]")
    client.zadd("unacked_index", {"tag-1": 1.0})
    assert put_back(keeper, _entry("tag-1")) is True
    assert client.lrange(QUEUE, 0, -1) == [b'{"an": "entry"}']
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0
    # Restored meanwhile (kombu's restore took the record): not put back a second time.
    assert put_back(keeper, _entry("tag-1")) is False
    assert client.llen(QUEUE) == 1
    assert put_back(keeper, _entry(None)) is True  # no record: always put back
    assert client.llen(QUEUE) == 2
    app.close()


def test_while_the_broker_is_down_it_is_tried_again_with_a_backoff(aj_redis: Any) -> None:
    app = make_app("redis://127.0.0.1:1/0")  # nothing listens there
    consumer = _Consumer(app)
    keeper = MessageKeeper(consumer)
    entry = _entry(None)
    assert put_back(keeper, entry) is False
    consumer.timer.calls[-1][1]()  # the retry the timer holds fails again, and backs off more
    assert [delay for delay, _ in consumer.timer.calls] == [1.0, 2.0]
    assert entry.tries == 2
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
