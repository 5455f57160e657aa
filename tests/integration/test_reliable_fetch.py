"""Reliable fetch: a popped message is already in kombu's unacked hash, so a crash cannot lose it.

The tests drive a real kombu Redis channel by hand (send the pop, then read the reply or
"crash" by dropping the connection before reading), and a real worker for the end-to-end case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from queue import Empty
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer, Queue

from activejob_celery import ApplicationJob, queue_as
from activejob_celery.dead_letters import store_for
from activejob_celery.reliable_fetch import ReliableFetch, forget_unacked, use_reliable_fetch
from tests.integration.dead_letters_support import RawQueue, task_body
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

QUEUE = "fetch"
STEPS = list(range(10))


MARKERS: list[str] = []


class FetchedJob(ApplicationJob):
    queue_as(QUEUE)

    def perform(self, marker: str) -> None:
        MARKERS.append(marker)


def fetch_queue() -> Queue:
    return Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)


class Consumer:
    """A kombu Redis channel consuming ``QUEUE``; ``pop()`` is one turn of kombu's poll loop."""

    def __init__(self, url: str, reliable: bool, no_ack: bool = False, **options: Any) -> None:
        self.connection = Connection(url, transport_options={"priority_steps": STEPS, **options})
        self.channel = self.connection.channel()
        fetch_queue()(self.channel).declare()
        self.received: list[Any] = []
        self.reliable = use_reliable_fetch(self.channel) if reliable else False
        self.channel.basic_consume(
            QUEUE, no_ack=no_ack, callback=self.received.append, consumer_tag="fetch-test"
        )

    def send_pop(self) -> None:
        # What kombu's poller does before each wait: connect if needed, then send the pop.
        self.connection.transport.cycle._register_BRPOP(self.channel)

    def read(self) -> bool:
        return bool(self.channel.handlers["BRPOP"]())

    def pop(self) -> Any:
        self.send_pop()
        self.read()
        return self.received[-1]

    def crash(self) -> None:
        """Drop the connection with the pop's reply unread, as a killed worker does."""
        self.channel.client.connection.disconnect()

    def pop_then_crash(self) -> None:
        """Send a pop and die before reading its reply."""
        self.send_pop()
        self.crash()

    def close(self) -> None:
        self.connection.release()


@pytest.fixture(name="consumers")  # test_unacked_skip.py imports it too
def consumers_fixture(aj_redis: Any) -> Iterator[Any]:
    made: list[Consumer] = []

    def make(reliable: bool = True, **options: Any) -> Consumer:
        made.append(Consumer(aj_redis.url, reliable, **options))
        return made[-1]

    yield make
    for consumer in made:
        consumer.close()


def publish(url: str, *bodies: Any, priority: int = 0, **options: Any) -> None:
    with Connection(url, transport_options={"priority_steps": STEPS, **options}) as connection:
        producer = Producer(connection.channel(), exchange=Exchange(QUEUE), routing_key=QUEUE)
        for body in bodies:
            producer.publish(body, priority=priority, declare=[fetch_queue()])


def queued(client: Any) -> int:
    return sum(client.llen(key) for key in client.keys(f"{QUEUE}*") if client.type(key) == b"list")


def command_calls(client: Any, name: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))


def test_a_crash_with_the_reply_unread_leaves_the_message_unacked_and_kombu_restores_it(
    aj_redis, consumers
):
    publish(aj_redis.url, {"n": 1})
    doomed = consumers(reliable=True)
    assert doomed.reliable
    doomed.pop_then_crash()

    client = aj_redis.client
    assert queued(client) == 0
    (tag,) = client.hkeys("unacked")
    message, exchange, routing_key = json.loads(client.hget("unacked", tag))
    assert message["properties"]["delivery_tag"] == tag.decode()
    assert (exchange, routing_key) == (QUEUE, QUEUE)
    assert client.zscore("unacked_index", tag) is not None

    survivor = consumers(reliable=True, visibility_timeout=0)
    survivor.channel.qos.restore_visible(num=10, interval=1)
    assert queued(client) == 1
    assert survivor.pop().decode() == {"n": 1}
    survivor.received[-1].ack()
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0


def test_a_close_after_kombu_dropped_the_connection_object_keeps_the_worker_alive(
    aj_redis, consumers, caplog
):
    # kombu 5.7 closes such a channel with its transport's connection object already None;
    # its close-time restore raised AttributeError and the worker exited. The message stays
    # recorded as unacked and the visibility-timeout restore brings it back.
    publish(aj_redis.url, {"n": 1})
    doomed = consumers(reliable=True)
    doomed.pop()
    transport = doomed.channel.connection
    kept, transport.client = transport.client, None  # as kombu leaves it after the failure
    doomed.channel._pool = None  # (its pool was dropped with the dead connections)
    try:
        # Each raised AttributeError before the guard, which stopped the worker; Celery logs
        # a connection error of an ack ("Couldn't ack") and goes on.
        with pytest.raises(ConnectionError, match="delivered again"):
            doomed.received[-1].ack()
        doomed.channel.qos.restore_unacked_once()
    finally:
        transport.client = kept  # so the fixture can close it
    assert "come back after the visibility timeout" in caplog.text
    client = aj_redis.client
    assert queued(client) == 0 and client.hlen("unacked") == 1
    survivor = consumers(reliable=True, visibility_timeout=0)
    survivor.channel.qos.restore_visible(num=10, interval=1)
    assert survivor.pop().decode() == {"n": 1}


def test_without_it_the_same_crash_loses_the_message(aj_redis, consumers):
    # The bug being fixed, shown on kombu's own fetch: nothing is left to restore.
    publish(aj_redis.url, {"n": 1})
    plain = consumers(reliable=False)
    plain.pop_then_crash()
    assert queued(aj_redis.client) == 0
    assert aj_redis.client.hlen("unacked") == 0


def test_a_read_message_is_acked_like_any_other(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1}, {"n": 2})
    consumer = consumers()
    first = consumer.pop()
    assert first.decode() == {"n": 1}
    assert aj_redis.client.hlen("unacked") == 1
    first.ack()
    consumer.pop().reject(requeue=True)
    assert aj_redis.client.hlen("unacked") == 0
    assert queued(aj_redis.client) == 1


def test_priority_and_queue_order_match_kombus_own_fetch(aj_redis, consumers):
    def drain(consumer: Consumer) -> list[int]:
        for priority in (5, 0, 9, 0, 3):
            publish(aj_redis.url, {"priority": priority}, priority=priority)
        order = []
        for _ in range(5):
            message = consumer.pop()
            order.append(message.decode()["priority"])
            message.ack()
        return order

    plain_order = drain(consumers(reliable=False))
    assert drain(consumers(reliable=True)) == plain_order
    assert plain_order[0] != 5  # the priorities did reorder the messages


def test_an_empty_queue_is_waited_on_with_brpop_then_the_script_takes_over(aj_redis, consumers):
    client = aj_redis.client
    consumer = consumers()
    evals, brpops = command_calls(client, "eval"), command_calls(client, "brpop")
    consumer.send_pop()
    with pytest.raises(Empty):  # kombu's signal for "nothing there", as after a BRPOP timeout
        consumer.read()
    assert (command_calls(client, "eval"), command_calls(client, "brpop")) == (evals + 1, brpops)

    publish(aj_redis.url, {"n": 1})
    assert consumer.pop().decode() == {"n": 1}  # the wait: kombu's BRPOP
    assert command_calls(client, "brpop") == brpops + 1

    publish(aj_redis.url, {"n": 2})
    assert consumer.pop().decode() == {"n": 2}  # then the script again
    assert command_calls(client, "eval") == evals + 2


def test_global_key_prefix_applies_to_the_queue_and_the_unacked_keys(aj_redis, consumers):
    options = {"global_keyprefix": "tenant:"}
    publish(aj_redis.url, {"n": 1}, **options)
    doomed = consumers(**options)
    doomed.pop_then_crash()
    assert aj_redis.client.hlen("tenant:unacked") == 1
    assert aj_redis.client.hlen("unacked") == 0

    survivor = consumers(visibility_timeout=0, **options)
    survivor.channel.qos.restore_visible(num=10, interval=1)
    assert survivor.pop().decode() == {"n": 1}


def test_an_entry_that_is_not_a_message_is_popped_but_never_recorded(aj_redis, consumers):
    aj_redis.client.lpush(QUEUE, b"\xff not json")
    consumer = consumers()
    evals = command_calls(aj_redis.client, "eval")
    consumer.send_pop()
    with pytest.raises(ValueError):
        consumer.read()  # kombu's own error; the dead-letter guard turns it into a letter
    assert aj_redis.client.hlen("unacked") == 0

    publish(aj_redis.url, {"n": 1})  # an error is not an empty queue: the script pops next
    assert consumer.pop().decode() == {"n": 1}
    assert command_calls(aj_redis.client, "eval") == evals + 2


# Forms Redis's cjson decodes and Python's json does not. Each sits in the envelope's headers;
# the script records the entry, and kombu's restore could not read the record.
ONLY_LUA_READS = {
    "hex": b"0x10",
    "hex float": b"0x1p3",
    "negative hex": b"-0x1",
    "nan": b"nan",
    "mixed-case nan": b"nAn",
    "inf": b"inf",
    "negative inf": b"-inf",
    "infinity": b"infinity",
    "leading zero": b"01",
    "negative leading zero": b"-01",
    "plus sign": b"+1",
    "trailing dot": b"5.",
    "dot before exponent": b"1.e5",
    "tab in a string": b'"a\tb"',
    "newline in a string": b'"a\nb"',
}


@pytest.mark.parametrize("value", ONLY_LUA_READS.values(), ids=ONLY_LUA_READS.keys())
def test_a_record_kombu_cannot_read_goes_back_to_its_queue_and_the_rest_are_restored(
    aj_redis, consumers, value
):
    odd = (
        b'{"body": "", "headers": {"odd": ' + value + b'}, "properties": {"delivery_tag": "t1",'
        b' "delivery_info": {"exchange": "", "routing_key": "fetch"}}}'
    )
    with pytest.raises(ValueError):
        json.loads(odd)
    publish(aj_redis.url, {"n": 1})
    aj_redis.client.lpush(QUEUE, odd)
    consumers().pop_then_crash()
    consumers().pop_then_crash()  # the odd one: the newer record, which kombu restores first
    assert queued(aj_redis.client) == 0 and aj_redis.client.hlen("unacked") == 2
    assert aj_redis.client.zrange("unacked_index", 0, -1, desc=True)[0] == b"t1"

    survivor = consumers(visibility_timeout=0)
    survivor.channel.qos.restore_visible(num=10, interval=1)
    assert aj_redis.client.hlen("unacked") == 0 and aj_redis.client.zcard("unacked_index") == 0
    entries = aj_redis.client.lrange(QUEUE, 0, -1)
    assert odd in entries and len(entries) == 2  # the odd one as it was, and the good one


def test_an_unreadable_record_in_no_known_format_is_left_in_place(aj_redis, consumers):
    aj_redis.client.hset("unacked", "alien", b"{not: a record}")
    aj_redis.client.zadd("unacked_index", {"alien": 1.0})
    survivor = consumers(visibility_timeout=0)
    survivor.channel.qos.restore_visible(num=10, interval=1)  # does not raise
    assert aj_redis.client.hget("unacked", "alien") == b"{not: a record}"
    assert queued(aj_redis.client) == 0


def test_kombus_own_restore_stops_at_such_a_record(aj_redis, consumers):
    # Why the guard exists: without it the good record behind the odd one is never restored.
    odd = b'{"x": nan, "properties": {"delivery_tag": "odd"}}'
    aj_redis.client.hset("unacked", "odd", b"[" + odd + b', "", "fetch"]')
    aj_redis.client.zadd("unacked_index", {"odd": 2.0})
    plain = consumers(reliable=False, visibility_timeout=0)
    with pytest.raises(ValueError):
        plain.channel.qos.restore_visible(num=10, interval=1)
    assert aj_redis.client.hlen("unacked") == 1


def test_real_job_messages_are_recorded_whatever_their_arguments(aj_redis, consumers):
    # The first goes through Celery's publish, the second through the direct path.
    make_app(aj_redis.url)
    for marker in ("line one\nline two\t\u00e9 5. 0x10 nan +1 01", "again: 1.e5, [inf]"):
        FetchedJob.perform_later(marker)
    for _ in range(2):
        consumers().pop_then_crash()
    assert queued(aj_redis.client) == 0
    assert aj_redis.client.hlen("unacked") == 2


def test_a_no_ack_consumer_keeps_kombus_fetch(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1})
    consumer = consumers(no_ack=True)
    brpops = command_calls(aj_redis.client, "brpop")
    assert consumer.pop().decode() == {"n": 1}
    assert command_calls(aj_redis.client, "brpop") == brpops + 1
    assert aj_redis.client.hlen("unacked") == 0  # nothing that nobody would ever ack


def test_forget_unacked_drops_the_record_of_a_message_the_worker_never_took(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1})
    consumer = consumers()
    consumer.pop_then_crash()
    (tag,) = aj_redis.client.hkeys("unacked")
    item = json.loads(aj_redis.client.hget("unacked", tag))[0]
    forget_unacked(consumer.channel, json.dumps(item, separators=(",", ":")).encode())
    assert aj_redis.client.hlen("unacked") == 1  # the same message, not the same entry: kept
    recorded_item = aj_redis.client.hget("unacked", tag)[1 : -len(', "fetch", "fetch"]')]
    forget_unacked(consumer.channel, recorded_item)
    assert aj_redis.client.hlen("unacked") == 0 and aj_redis.client.zcard("unacked_index") == 0


def test_forget_unacked_finds_a_record_by_the_raw_entry_when_json_cannot_read_it(
    aj_redis, consumers
):
    consumer = consumers()
    item = b'{"x": nan, "properties": {"delivery_tag": "odd-1"}}'
    aj_redis.client.hset("unacked", "odd-1", b"[" + item + b', "", "fetch"]')
    aj_redis.client.zadd("unacked_index", {"odd-1": 1.0})
    forget_unacked(consumer.channel, item)
    assert aj_redis.client.hlen("unacked") == 0 and aj_redis.client.zcard("unacked_index") == 0


def test_other_channels_keep_their_own_fetch():
    class NotRedis:
        def __init__(self) -> None:
            self.handlers: dict[str, Any] = {}

    channel = NotRedis()
    assert use_reliable_fetch(channel) is False
    assert not hasattr(channel, "_brpop_start")
    forget_unacked(channel, b"{}")  # a channel it never switched has no qos to touch


def test_init_app_adds_the_step_unless_turned_off(aj_redis):
    assert ReliableFetch in make_app(aj_redis.url).steps["consumer"]
    off = make_app(aj_redis.url, activejob_reliable_fetch=False)
    assert ReliableFetch not in off.steps["consumer"]


def test_without_the_dead_letter_store_it_stays_off_and_says_so(aj_redis, caplog):
    # Dead letters on a store that is not Redis are off; the guard reliable fetch needs is gone.
    with caplog.at_level("WARNING", logger="activejob_celery"):
        app = make_app(aj_redis.url, activejob_dead_letters_url="amqp://guest@localhost//")
    assert ReliableFetch not in app.steps["consumer"]
    assert "Reliable fetch is off" in caplog.text


@pytest.mark.parametrize("headers", ["2026-13-45T99:99", ["a", "list"], 7])
def test_an_envelope_the_worker_cannot_take_in_is_a_dead_letter_with_no_unacked_record(
    aj_redis, headers
):
    # The script records it (its properties are fine); kombu cannot make a message of it.
    app = make_app(aj_redis.url)
    store = store_for(app)
    raw = RawQueue(app, aj_redis.client, queue=QUEUE)
    raw.push(raw.envelope(task_body(), task=FetchedJob.job_name, headers=headers))
    MARKERS.clear()
    with run_worker(app, queues=[QUEUE]):
        wait_for(lambda: store.count() == 1, timeout=20)
        FetchedJob.perform_later("after")  # the worker carries on
        wait_for(lambda: MARKERS == ["after"], timeout=20)
    assert store.list()[0].reason == "malformed_message"
    assert aj_redis.client.hlen("unacked") == 0 and aj_redis.client.zcard("unacked_index") == 0


def test_a_worker_fetches_jobs_with_the_script(aj_redis):
    app = make_app(aj_redis.url)
    MARKERS.clear()
    evals = command_calls(aj_redis.client, "eval")
    with run_worker(app, queues=[QUEUE]):
        FetchedJob.perform_later("a")
        FetchedJob.perform_later("b")
        wait_for(lambda: sorted(MARKERS) == ["a", "b"], timeout=20)
    assert command_calls(aj_redis.client, "eval") >= evals + 2
    assert aj_redis.client.hlen("unacked") == 0
