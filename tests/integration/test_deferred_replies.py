"""Commands written now, replies read on the next call: order kept, errors not lost."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from activejob_celery.deferred_replies import READ_EVERY, DeferredReplies


def test_commands_run_in_order_and_an_error_reply_surfaces_on_the_next_call(aj_redis):
    client = redis.Redis.from_url(aj_redis.url)
    replies = DeferredReplies(client)
    replies.send("SET", "deferred:a", "1")
    replies.send("INCR", "deferred:a")
    replies.drain()
    assert client.get("deferred:a") == b"2"

    replies.send("INCR", "deferred:counter")  # a reply that is fine
    replies.send("HSET", "deferred:a", "field", "x")  # WRONGTYPE: a string, not a hash
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        for n in range(READ_EVERY + 1):  # the batch read before one of these sends raises
            replies.send("SET", "deferred:b", n)
    # The failed call dropped its connection: the next one starts afresh and works.
    replies.send("SET", "deferred:c", "1")
    replies.drain()
    assert client.get("deferred:c") == b"1"
    assert int(client.get("deferred:b")) < READ_EVERY  # the send that read the error never wrote
    client.close()


def test_each_thread_keeps_its_own_connection(aj_redis):
    client = redis.Redis.from_url(aj_redis.url)
    replies = DeferredReplies(client)
    ids: list[int] = []
    # A thread that ends gives its connection back to the pool, and a later thread may take
    # the same one: all four hold theirs until each has recorded it.
    together = threading.Barrier(4, timeout=30)

    def work(n: int) -> None:
        for i in range(50):
            replies.send("RPUSH", f"deferred:thread:{n}", i)
        replies.drain()
        ids.append(id(replies._local.connection))
        together.wait()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 4
    for n in range(4):
        assert [int(v) for v in client.lrange(f"deferred:thread:{n}", 0, -1)] == list(range(50))
    client.close()


def test_no_health_check_ping_reads_a_reply_still_due(aj_redis):
    # redis-py PINGs before a command once health_check_interval has passed since its last
    # read; on a connection with replies still due, that PING would read one of them instead.
    client = redis.Redis.from_url(aj_redis.url, health_check_interval=1, socket_timeout=2)
    replies = DeferredReplies(client)
    for n in range(3):
        replies.send("SET", f"deferred:health:{n}", n)
    time.sleep(1.3)
    replies.send("SET", "deferred:health:3", 3)
    replies.drain()  # timed out waiting for a reply the PING had swallowed
    assert [int(client.get(f"deferred:health:{n}")) for n in range(4)] == [0, 1, 2, 3]
    client.close()


def test_a_thread_that_ends_gives_its_connection_back(aj_redis):
    # gevent/eventlet pools run each job in a new greenlet (threading.local is per greenlet):
    # a connection kept past its thread's end is never closed, one more per job.
    client = redis.Redis.from_url(aj_redis.url)
    replies = DeferredReplies(client)
    client.ping()
    before = len(client.client_list())

    def work(n: int) -> None:
        replies.send("SET", f"deferred:ended:{n}", n)

    for n in range(20):
        thread = threading.Thread(target=work, args=(n,))
        thread.start()
        thread.join(30)
    assert client.get("deferred:ended:19") == b"19"  # the writes arrived
    deadline = time.monotonic() + 30
    while len(client.client_list()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(client.client_list()) <= before
    client.close()
