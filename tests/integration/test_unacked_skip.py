"""kombu's unacked write is skipped for a message the fetch script recorded, and only for it.

Each message then costs one Redis round trip less (kombu's MULTI/EXEC pipeline), and its
unacked entry is still there exactly once, so a crash loses nothing.
"""

from __future__ import annotations

import json
import logging
import time
from queue import Empty
from typing import Any

import pytest

from activejob_celery import internals, reliable_fetch
from activejob_celery.reliable_fetch import POP_AND_RECORD
from activejob_celery.unacked_skip import UnackedSkip
from tests.integration.test_reliable_fetch import (
    QUEUE,
    command_calls,
    consumers_fixture,  # noqa: F401 (the fixture `consumers`)
    publish,
)


def entries(client: Any) -> dict[str, str]:
    """Delivery tag -> the tag inside the unacked entry, checking hash and index agree."""
    tags = {tag.decode() for tag in client.hkeys("unacked")}
    assert tags == {tag.decode() for tag in client.zrange("unacked_index", 0, -1)}
    found = {}
    for tag in tags:
        message, exchange, routing_key = json.loads(client.hget("unacked", tag))
        assert (exchange, routing_key) == (QUEUE, QUEUE)
        found[tag] = message["properties"]["delivery_tag"]
    return found


def test_a_recorded_message_is_written_once_by_the_script_not_again_by_kombu(aj_redis, consumers):
    client = aj_redis.client
    publish(aj_redis.url, {"n": 1}, {"n": 2}, {"n": 3})
    consumer = consumers()
    assert consumer.reliable
    execs = command_calls(client, "exec")
    popped = [consumer.pop() for _ in range(3)]
    assert [message.decode()["n"] for message in popped] == [1, 2, 3]
    assert command_calls(client, "exec") == execs  # no MULTI/EXEC of kombu's QoS.append
    tags = [message.delivery_tag for message in popped]
    assert entries(client) == {tag: tag for tag in tags}  # each in flight exactly once
    assert all(internals.is_delivered(consumer.channel, tag) for tag in tags)  # kombu's memory
    for message in popped:
        message.ack()
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0


def test_a_message_from_the_blocking_brpop_still_gets_kombus_write(aj_redis, consumers):
    client = aj_redis.client
    consumer = consumers()
    consumer.send_pop()
    with pytest.raises(Empty):
        consumer.read()
    publish(aj_redis.url, {"n": 1})
    execs = command_calls(client, "exec")
    message = consumer.pop()  # kombu's BRPOP: nothing recorded it
    assert command_calls(client, "exec") == execs + 1
    assert entries(client) == {message.delivery_tag: message.delivery_tag}
    message.ack()
    assert client.hlen("unacked") == 0


def test_a_killed_worker_s_message_comes_back_with_kombus_restore(aj_redis, consumers):
    client = aj_redis.client
    publish(aj_redis.url, {"n": 1}, {"n": 2})
    doomed = consumers()
    taken = doomed.pop()
    kept = doomed.pop()
    kept.ack()
    doomed.crash()  # killed mid-run: `taken` was delivered, never acked
    assert list(entries(client)) == [taken.delivery_tag]

    survivor = consumers(visibility_timeout=0)
    survivor.channel.qos.restore_visible(num=10, interval=1)
    again = survivor.pop()
    assert again.decode() == {"n": 1} and again.delivery_tag == taken.delivery_tag
    again.ack()
    assert client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0


def test_the_script_names_the_tag_only_when_asked_and_only_for_a_record(aj_redis):
    client = aj_redis.client
    keys = ["q", "unacked", "unacked_index"]
    envelope = {
        "properties": {"delivery_tag": "t1", "delivery_info": {"exchange": "e", "routing_key": "r"}}
    }
    client.lpush("q", "not a message", json.dumps(envelope), json.dumps(envelope))
    assert client.eval(POP_AND_RECORD, 3, *keys, "1.0", "0") == [b"q", b"not a message"]
    assert client.eval(POP_AND_RECORD, 3, *keys, "1.0", "1")[2] == b"t1"
    assert len(client.eval(POP_AND_RECORD, 3, *keys, "1.0")) == 2  # no second argument


class FakeQoS:
    def __init__(self) -> None:
        self.written: list[Any] = []

    def append(self, message: Any, tag: Any) -> None:
        self.written.append(tag)


def test_a_tag_the_reply_did_not_name_gets_kombus_write(monkeypatch):
    qos = FakeQoS()
    skip = UnackedSkip(qos)
    in_memory: list[Any] = []
    monkeypatch.setattr(internals, "append_in_memory", lambda q, m, tag: in_memory.append(tag))
    parse = skip.parse_reply(lambda response, **options: response and tuple(response))
    assert parse([b"q", b"item", b"t1"]) == (b"q", b"item")
    skip.append(object(), "t2")  # not the recorded tag: kombu writes
    skip.append(object(), "t1")  # the recorded one: memory only, once
    skip.append(object(), "t1")
    assert parse([b"q", b"item"]) == (b"q", b"item")  # a BRPOP reply records nothing
    skip.append(object(), "t3")
    parse([b"q", b"item", b"t4"])
    skip.done()  # the read is over: a later append of the same tag writes
    skip.append(object(), "t4")
    assert qos.written == ["t2", "t1", "t3", "t4"] and in_memory == ["t1"]


def break_shape(monkeypatch: Any, part: str, owner: str, kept: str, missing: str) -> None:
    """Make ``part``'s shape check find ``owner`` naming ``kept`` but no longer ``missing``."""
    monkeypatch.setattr(internals, "_broken", None)
    looks_different = type(owner, (), {kept: None})
    others = [shape for shape in internals._SHAPES if shape[0] != part]
    monkeypatch.setattr(internals, "_SHAPES", (*others, (part, looks_different, (missing, kept))))


def test_a_kombu_whose_append_looks_different_keeps_its_write_and_warns_once(
    aj_redis, consumers, monkeypatch, caplog
):
    break_shape(monkeypatch, internals.UNACKED_SKIP, "QoS.append", "hset", "zadd")
    with caplog.at_level(logging.WARNING, logger="activejob_celery.internals"):
        consumer = consumers()
        consumers()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and internals.UNACKED_SKIP in warnings[0] and "zadd" in warnings[0]
    assert consumer.reliable  # the fetch script itself stays on
    publish(aj_redis.url, {"n": 1})
    execs = command_calls(aj_redis.client, "exec")
    message = consumer.pop()
    assert command_calls(aj_redis.client, "exec") == execs + 1
    message.ack()
    monkeypatch.setattr(internals, "_broken", None)


def test_a_reply_read_long_after_its_pop_gets_kombus_write_and_a_fresh_score(
    aj_redis, consumers, monkeypatch
):
    client = aj_redis.client
    publish(aj_redis.url, {"n": 1})
    consumer = consumers()
    monkeypatch.setattr(reliable_fetch, "FRESH_FOR", 0.0)  # as if parked by a full prefetch
    consumer.send_pop()
    time.sleep(0.05)  # the script has run; its reply waits unread
    popped_at = float(client.zrange("unacked_index", 0, -1, withscores=True)[0][1])
    execs = command_calls(client, "exec")
    consumer.read()
    message = consumer.received[-1]
    assert command_calls(client, "exec") == execs + 1  # kombu's write, as without the skip
    assert entries(client) == {message.delivery_tag: message.delivery_tag}
    assert float(client.zscore("unacked_index", message.delivery_tag)) > popped_at
    message.ack()


def test_a_reply_that_is_not_fresh_records_nothing():
    qos = FakeQoS()
    skip = UnackedSkip(qos)
    skip.fresh = False
    assert skip.parse_reply(None)([b"q", b"item", b"t1"]) == [b"q", b"item"]
    skip.append(object(), "t1")
    assert qos.written == ["t1"]
