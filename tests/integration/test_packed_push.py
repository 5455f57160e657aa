"""The single enqueue's pre-packed EVALSHA: the bytes redis-py would send, and the same writes."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import redis
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from activejob_celery import ApplicationJob, queue_as
from activejob_celery.config import Settings
from activejob_celery.packed_commands import pack, push_batch, run, usable
from activejob_celery.status import StatusStore
from activejob_celery.status.packed import PackedPush


class PackedJob(ApplicationJob):
    queue_as("päcked")  # not ASCII: encoded as redis-py encodes it

    def perform(self) -> None: ...


class StoredElsewhere(ApplicationJob):
    queue_as("elsewhere")

    def perform(self) -> None: ...


def _store(client: Any) -> StatusStore:
    return StatusStore(client, Settings(status_ttl=60))


def _wrapper_writes(client: Any, store: StatusStore, job: ApplicationJob, now: str) -> Any:
    """What the script wrapper (redis-py's own packing) leaves: the reference."""
    keys = [b"list", store.key(job.job_id)]
    args = [b"msg", now, store.waiting_ttl, "queued", job.job_name, job.queue_name]
    store._push(keys=keys, args=args)
    return client.lrange(b"list", 0, -1), client.hgetall(store.key(job.job_id))


def test_the_packed_command_is_what_redis_py_packs(aj_redis: Any) -> None:
    store = _store(aj_redis.client)
    job = PackedJob()
    packed = PackedPush(store, store._push).command(b"k\xffey", b"m" * 7000, job, "12.5")
    connection = aj_redis.client.connection_pool.make_connection()
    keys = [b"k\xffey", store.key(job.job_id)]
    args = [b"m" * 7000, "12.5", store.waiting_ttl, "queued", job.job_name, job.queue_name]
    expected = b"".join(connection.pack_command("EVALSHA", store._push.sha, 2, *keys, *args))
    assert packed == expected


def test_a_push_writes_what_the_wrapper_writes(aj_redis: Any) -> None:
    client = aj_redis.client
    store = _store(client)
    job = PackedJob()
    store.push(b"list", b"msg", job)
    pushed = client.lrange(b"list", 0, -1), client.hgetall(store.key(job.job_id))
    ttl = client.ttl(store.key(job.job_id))
    client.flushdb()
    now = pushed[1][b"updated_at"].decode()
    assert pushed == _wrapper_writes(client, store, job, now)
    assert ttl == client.ttl(store.key(job.job_id)) == store.waiting_ttl
    assert pushed[1][b"queue"] == "päcked".encode()


@pytest.mark.parametrize("lose_scripts", ["SCRIPT FLUSH", "restart"])
def test_a_noscript_reply_loads_the_script_and_writes(aj_redis: Any, lose_scripts: str) -> None:
    client = aj_redis.client
    store = _store(client)
    store.push(b"list", b"first", PackedJob())  # the script is known, a connection pooled
    if lose_scripts == "restart":
        aj_redis.server.restart()
    else:
        client.script_flush()
    assert client.script_exists(store._push.sha) == [False]
    job = PackedJob()
    store.push(b"list", b"second", job)
    assert client.lrange(b"list", 0, 0) == [b"second"]
    assert client.hget(store.key(job.job_id), "status") == b"queued"


def test_a_client_holding_one_connection_gets_the_wrapper(aj_redis: Any) -> None:
    single = redis.Redis.from_url(aj_redis.url, single_connection_client=True)
    try:
        assert not usable(single) and usable(aj_redis.client)
        store = _store(single)
        job = PackedJob()
        store.push(b"list", b"msg", job)
        assert single.lrange(b"list", 0, -1) == [b"msg"]
        assert single.hget(store.key(job.job_id), "status") == b"queued"
    finally:
        single.close()


def test_a_sentinel_client_gets_the_wrapper() -> None:
    """After a failover only redis-py's own path asks the sentinels for the new master."""
    pool = redis.sentinel.SentinelConnectionPool(
        "jobs", redis.sentinel.Sentinel([("127.0.0.1", 1)])
    )
    assert not usable(redis.Redis(connection_pool=pool))
    assert usable(redis.Redis(connection_pool=redis.BlockingConnectionPool()))


def test_connection_errors_propagate_after_the_clients_retries(aj_redis: Any) -> None:
    client = redis.Redis(port=1, retry=Retry(NoBackoff(), 1))  # nothing listens there
    store = _store(client)
    with pytest.raises(redis.ConnectionError):
        store.push(b"list", b"msg", PackedJob())


def _batch_writes(client: Any, store: StatusStore | None, jobs: list[ApplicationJob]) -> Any:
    pushes = {b"one": [b"a", b"b"], "twö".encode(): [b"c"]}
    push_batch(client, pushes, store, jobs)
    statuses = [client.hgetall(f"activejob:status:{job.job_id}") for job in jobs]
    for found in statuses:
        found.pop(b"updated_at")
    ttls = [client.ttl(f"activejob:status:{job.job_id}") for job in jobs]
    return client.lrange(b"one", 0, -1), client.lrange("twö", 0, -1), statuses, ttls


def test_a_packed_batch_writes_what_a_pipeline_writes(aj_redis: Any) -> None:
    client = aj_redis.client
    single = redis.Redis.from_url(aj_redis.url, single_connection_client=True)
    try:
        jobs = [PackedJob(), PackedJob(), StoredElsewhere()]
        packed = _batch_writes(client, _store(client), jobs)
        client.flushdb()
        assert packed == _batch_writes(single, _store(single), jobs)  # through a pipeline
        assert packed[0] == [b"b", b"a"] and packed[2][2][b"queue"] == b"elsewhere"
        assert all(found[b"status"] == b"queued" for found in packed[2])
    finally:
        single.close()


def test_a_failing_command_of_a_packed_batch_raises_as_a_pipeline_does(aj_redis: Any) -> None:
    client = aj_redis.client
    client.set(b"two", b"not a list")
    with pytest.raises(redis.ResponseError, match=r"Command # 2 of the batch.*WRONGTYPE"):
        push_batch(client, {b"one": [b"a"], b"two": [b"b"]}, None, [])
    assert client.lrange(b"one", 0, -1) == [b"a"]  # MULTI/EXEC does not roll back
    with pytest.raises(redis.ResponseError, match="unknown command"):
        run(client, [pack([b"LPUSH", b"one", b"c"]), pack([b"NOSUCHCOMMAND"])])
    assert client.lrange(b"one", 0, -1) == [b"a"]  # refused at queueing: EXEC runs nothing


def test_pack_is_what_redis_py_packs(aj_redis: Any) -> None:
    connection = aj_redis.client.connection_pool.make_connection()
    args = [b"LPUSH", b"q", b"x" * 7000, b"", "ü".encode()]
    assert pack(args) == b"".join(connection.pack_command(*args))


def test_pushes_from_many_threads_all_land(aj_redis: Any) -> None:
    client = aj_redis.client
    store = _store(client)
    jobs = [PackedJob() for _ in range(400)]

    def push(part: list[ApplicationJob]) -> None:
        for job in part:
            store.push(b"list", job.job_id.encode(), job)

    threads = [threading.Thread(target=push, args=(jobs[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(client.lrange(b"list", 0, -1)) == sorted(job.job_id.encode() for job in jobs)
    assert all(client.hget(store.key(job.job_id), "status") == b"queued" for job in jobs)


def test_a_closed_pool_and_a_forked_child_still_push(aj_redis: Any) -> None:
    client = aj_redis.client
    store = _store(client)
    store.push(b"list", b"one", PackedJob())  # the process now holds a connection
    client.connection_pool.disconnect()  # client.close() and the like: it reconnects
    store.push(b"list", b"two", PackedJob())
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        try:
            store.push(b"list", b"child", PackedJob())
        finally:
            os._exit(0 if client.lrange(b"list", 0, 0) == [b"child"] else 1)
    assert os.waitpid(child, 0)[1] == 0
    store.push(b"list", b"three", PackedJob())  # the parent's connection was left alone
    assert client.lrange(b"list", 0, -1) == [b"three", b"child", b"two", b"one"]
