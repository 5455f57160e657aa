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
from redis.exceptions import ConnectionError, ResponseError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from activejob_celery import internals
from activejob_celery.packed_ack import PackedAck
from tests.integration.test_reliable_fetch import (
    command_calls,
    consumers_fixture,  # noqa: F401 (the fixture `consumers`)
    publish,
)
from tests.integration.test_unacked_skip import break_shape


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


def killing_first_connection(monkeypatch: Any, aj_redis: Any, pool: Any) -> None:
    """The pool's next connection is killed by Redis after the pool handed it out."""
    plain_get = pool.get_connection

    def get(*args: Any, **kwargs: Any) -> Any:
        connection = plain_get(*args, **kwargs)
        monkeypatch.setattr(pool, "get_connection", plain_get)
        connection.send_command("CLIENT", "ID")
        assert aj_redis.client.client_kill_filter(_id=connection.read_response()) == 1
        return connection

    monkeypatch.setattr(pool, "get_connection", get, raising=False)


def retry_failures(monkeypatch: Any) -> list[BaseException]:
    """Each error redis-py's retry policy handles (then reconnects and tries again)."""
    failures: list[BaseException] = []
    plain = Retry.call_with_retry

    def spy(self: Any, do: Any, fail: Any, *args: Any, **kwargs: Any) -> Any:
        def failed(error: BaseException, *rest: Any) -> Any:
            failures.append(error)
            return fail(error, *rest)

        return plain(self, do, failed, *args, **kwargs)

    monkeypatch.setattr(Retry, "call_with_retry", spy)
    return failures


def kombus_own_ack(consumer: Any) -> Any:
    return lambda tag: kombu_redis.QoS.ack(consumer.channel.qos, tag)


@pytest.mark.parametrize("whose", ["packed", "kombu"])
def test_a_killed_connection_is_retried_as_redis_py_retries_a_transaction(
    aj_redis, consumers, monkeypatch, whose
):
    publish(aj_redis.url, {"n": 1})
    consumer = consumers(retry_on_timeout=True)  # kombu's Redis client then retries once
    message = consumer.pop()
    ack = consumer.channel.qos.ack if whose == "packed" else kombus_own_ack(consumer)
    assert isinstance(consumer.channel.qos.ack.__self__, PackedAck)
    killing_first_connection(monkeypatch, aj_redis, consumer.channel.pool)
    failures = retry_failures(monkeypatch)
    ack(message.delivery_tag)
    assert [type(error).__name__ for error in failures] == ["ConnectionError"]
    assert aj_redis.client.hlen("unacked") == 0 and aj_redis.client.zcard("unacked_index") == 0
    assert consumer.channel.qos._dirty == {message.delivery_tag}


@pytest.mark.parametrize("whose", ["packed", "kombu"])
def test_without_retries_a_killed_connection_raises_and_the_entry_stays(
    aj_redis, consumers, monkeypatch, whose
):
    publish(aj_redis.url, {"n": 1})
    consumer = consumers()  # kombu's defaults: no retry
    message = consumer.pop()
    ack = consumer.channel.qos.ack if whose == "packed" else kombus_own_ack(consumer)
    killing_first_connection(monkeypatch, aj_redis, consumer.channel.pool)
    with pytest.raises(ConnectionError):  # Celery logs "Couldn't ack" and goes on
        ack(message.delivery_tag)
    assert aj_redis.client.hlen("unacked") == 1  # restored after the visibility timeout
    assert not consumer.channel.qos._dirty


def test_an_error_reply_is_raised_as_kombus_pipeline_raises_it(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1}, {"n": 2})
    consumer = consumers()
    ours, theirs = consumer.pop(), consumer.pop()
    client = aj_redis.client
    client.delete("unacked")
    client.set("unacked", "not a hash")  # HDEL fails inside the transaction
    errors = []
    for ack, tag in ((consumer.channel.qos.ack, ours), (kombus_own_ack(consumer), theirs)):
        with pytest.raises(ResponseError) as raised:
            ack(tag.delivery_tag)
        errors.append(str(raised.value))
    assert all("WRONGTYPE" in error for error in errors)
    assert not consumer.channel.qos._dirty
    assert client.zcard("unacked_index") == 0  # ZREM ran, as in kombu's MULTI/EXEC
    pool = consumer.channel.pool
    assert len(pool._in_use_connections) == 0  # the connection went back to the pool
    client.delete("unacked")  # (the fixture's close restores from the hash)


def test_a_pool_swapped_for_a_sentinel_pool_after_install_gets_kombus_ack(aj_redis, consumers):
    consumer = consumers()
    channel = consumer.channel
    packed = channel.qos.ack.__self__
    sent: list[Any] = []
    packed.plain_ack = sent.append
    channel._pool = SentinelConnectionPool("mymaster", Sentinel([]))
    channel.qos.ack("a-tag")
    assert sent == ["a-tag"]


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
    break_shape(monkeypatch, internals.PACKED_ACK, "QoS._remove_from_indices", "hdel", "zrem")
    with caplog.at_level(logging.WARNING, logger="activejob_celery.internals"):
        consumer = consumers()
        consumers()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and internals.PACKED_ACK in warnings[0]
    assert "zrem" in warnings[0]
    assert consumer.reliable  # the fetch script stays on
    assert consumer.channel.qos.ack.__func__ is kombu_redis.QoS.ack
    publish(aj_redis.url, {"n": 1})
    consumer.pop().ack()
    assert aj_redis.client.hlen("unacked") == 0
    monkeypatch.setattr(internals, "_broken", None)


def test_after_kombu_replaces_the_channels_pool_the_ack_uses_the_new_one(aj_redis, consumers):
    publish(aj_redis.url, {"n": 1}, {"n": 2})
    consumer = consumers()
    channel = consumer.channel
    packed = channel.qos.ack.__self__
    first, second = consumer.pop(), consumer.pop()
    first.ack()
    old = packed.encoded[0]
    assert old is channel.pool
    channel._after_fork()  # kombu drops its pools in a forked child and makes new ones
    second.ack()
    assert packed.encoded[0] is channel.pool and packed.encoded[0] is not old
    assert aj_redis.client.hlen("unacked") == 0
