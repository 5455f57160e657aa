"""The packed ack sends kombu's own MULTI/EXEC, byte for byte, and leaves Redis as kombu's does.

kombu's Redis ``QoS.ack`` is a pipeline (ZREM from the unacked index, HDEL from the unacked
hash); :mod:`activejob_celery.packed_ack` packs the same commands by hand. These tests drive a
real kombu Redis channel against a real Redis.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kombu.transport import redis as kombu_redis
from redis.connection import AbstractConnection
from redis.sentinel import Sentinel, SentinelConnectionPool

from activejob_celery import internals, internals_channels
from activejob_celery.packed_ack import PackedAck
from tests.integration.test_reliable_fetch import (
    command_calls,
    consumers_fixture,  # noqa: F401 (the fixture `consumers`)
    publish,
)


def sent_bytes(monkeypatch: Any, action: Any) -> bytes:
    """Every byte ``action`` sends to Redis (through any redis-py connection)."""
    sent: list[bytes] = []
    plain = AbstractConnection.send_packed_command

    def record(self: Any, command: Any, check_health: bool = True) -> None:
        sent.extend([command] if isinstance(command, bytes) else command)
        plain(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", record)
    action()
    monkeypatch.setattr(AbstractConnection, "send_packed_command", plain)
    return b"".join(sent)


@pytest.mark.parametrize("prefix", ["", "tenant:"])
def test_the_packed_ack_sends_what_kombus_ack_sends(aj_redis, consumers, monkeypatch, prefix):
    options = {"global_keyprefix": prefix} if prefix else {}
    publish(aj_redis.url, {"n": 1}, {"n": 2}, **options)
    consumer = consumers(**options)
    assert consumer.reliable
    qos = consumer.channel.qos
    assert isinstance(qos.ack.__self__, PackedAck)  # installed with reliable fetch
    first, second = consumer.pop(), consumer.pop()
    client = aj_redis.client
    assert client.hlen(f"{prefix}unacked") == 2

    ours = sent_bytes(monkeypatch, lambda: first.ack())
    kombus = sent_bytes(monkeypatch, lambda: kombu_redis.QoS.ack(qos, second.delivery_tag))
    tag_bytes = second.delivery_tag.encode()
    assert ours == kombus.replace(tag_bytes, first.delivery_tag.encode())
    assert ours.startswith(b"*1\r\n$5\r\nMULTI\r\n") and ours.endswith(b"*1\r\n$4\r\nEXEC\r\n")
    assert f"{prefix}unacked_index".encode() in ours
    assert client.hlen(f"{prefix}unacked") == 0 and client.zcard(f"{prefix}unacked_index") == 0
    assert {first.delivery_tag, second.delivery_tag} <= qos._dirty  # kombu's memory, both ways


def test_each_ack_is_one_transaction_and_removes_only_its_own_entry(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1}, {"n": 2}, {"n": 3})
    consumer = consumers()
    popped = [consumer.pop() for _ in range(3)]
    client = aj_redis.client
    execs = command_calls(client, "exec")
    popped[1].ack()
    assert command_calls(client, "exec") == execs + 1
    left = {tag.decode() for tag in client.hkeys("unacked")}
    assert left == {popped[0].delivery_tag, popped[2].delivery_tag}
    assert {tag.decode() for tag in client.zrange("unacked_index", 0, -1)} == left
    assert consumer.channel.qos._dirty == {popped[1].delivery_tag}  # kombu's in-memory ack


def test_an_ack_on_a_dropped_connection_is_retried_as_redis_py_retries(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1})
    consumer = consumers()
    message = consumer.pop()
    pool = consumer.channel.pool
    connection = pool.get_connection()  # the pooled connection the ack will take
    connection.send_command("CLIENT", "ID")
    client_id = connection.read_response()
    pool.release(connection)
    assert aj_redis.client.client_kill_filter(_id=client_id) == 1
    execs = command_calls(aj_redis.client, "exec")
    message.ack()
    assert command_calls(aj_redis.client, "exec") == execs + 1
    assert aj_redis.client.hlen("unacked") == 0
    assert consumer.channel.qos._dirty == {message.delivery_tag}


def test_a_pool_that_finds_its_server_per_connection_keeps_kombus_ack(aj_redis, consumers):
    consumer = consumers()
    channel = consumer.channel
    channel._pool = SentinelConnectionPool("mymaster", Sentinel([]))
    channel.qos.__dict__.pop("ack", None)
    assert PackedAck.install(channel) is None
    assert channel.qos.ack.__func__ is kombu_redis.QoS.ack


def test_a_kombu_whose_ack_looks_different_keeps_its_own_and_warns_once(
    aj_redis, consumers, monkeypatch, caplog
):
    monkeypatch.setattr(internals_channels, "_pack_ack_checked", [])
    monkeypatch.setattr(internals_channels, "_REMOVE_NAMES", ("pipe_or_acquire", "hdel", "zrem"))
    with caplog.at_level(logging.WARNING, logger="activejob_celery.internals"):
        consumer = consumers()
        consumers()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and internals.PACKED_ACK in warnings[0]
    assert "_remove_from_indices" in warnings[0]
    assert consumer.reliable  # the fetch script stays on
    assert consumer.channel.qos.ack.__func__ is kombu_redis.QoS.ack
    publish(aj_redis.url, {"n": 1})
    consumer.pop().ack()
    assert aj_redis.client.hlen("unacked") == 0
    monkeypatch.setattr(internals_channels, "_pack_ack_checked", [])


def test_after_kombu_replaces_the_channels_pool_the_ack_uses_the_new_one(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1}, {"n": 2})
    consumer = consumers()
    channel = consumer.channel
    packed = channel.qos.ack.__self__
    first, second = consumer.pop(), consumer.pop()
    first.ack()
    old = packed.pool
    assert old is channel.pool
    channel._after_fork()  # kombu drops its pools in a forked child and makes new ones
    second.ack()
    assert packed.pool is channel.pool and packed.pool is not old
    assert aj_redis.client.hlen("unacked") == 0
