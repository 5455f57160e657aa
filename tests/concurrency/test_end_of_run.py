"""The end-of-run writer: a run's slot release and unlock leave the job's path, batched."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from activejob_celery import ApplicationJob, limits_concurrency, unique
from activejob_celery.concurrency import store_for_app
from activejob_celery.concurrency.gate import begin_run, end_run
from activejob_celery.end_of_run import EndOfRun, end_of_run_for, flush_all
from tests.support.worker import wait_for


def test_writes_are_sent_in_order_and_replies_handed_back(aj_redis: Any) -> None:
    writes = EndOfRun(aj_redis.client)
    replies: list[Any] = []
    script = aj_redis.client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    aj_redis.client.script_flush()  # Redis lost its scripts (a restart): loaded again
    for n in range(5):
        writes.command("RPUSH", "list", n)
        writes.script(script, ["counter"], [n], then=replies.append)
    assert writes.flush(30)
    assert aj_redis.client.lrange("list", 0, -1) == [b"0", b"1", b"2", b"3", b"4"]
    assert replies == [0, 1, 3, 6, 10]


def test_a_failed_write_is_logged_and_the_writer_goes_on(
    aj_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    writes = EndOfRun(aj_redis.client)
    aj_redis.client.set("text", "x")
    with caplog.at_level(logging.WARNING, "activejob_celery.end_of_run"):
        writes.command("INCR", "text", then=lambda reply: None)
        writes.command("SET", "after", "1", then=lambda reply: 1 / 0)
        assert writes.flush(30)
    assert aj_redis.client.get("after") == b"1"
    messages = [record.getMessage() for record in caplog.records]
    assert any("An end-of-run write failed" in message for message in messages)
    assert any("Handling an end-of-run reply failed" in message for message in messages)


def test_a_runs_release_and_unlock_do_not_wait_for_redis(aj_app: Celery, monkeypatch: Any) -> None:
    class GuardedJob(ApplicationJob):
        limits_concurrency(to=1, duration=60)
        unique(until="executed")

        def perform(self, n: int) -> None: ...

    store = store_for_app(aj_app)
    assert store is not None
    job = GuardedJob.perform_later(1)
    assert job and job.successfully_enqueued
    writes = end_of_run_for(store.client)
    held, sending = threading.Event(), threading.Event()
    plain_send = writes._send

    def held_send(items: list[Any]) -> None:
        sending.set()
        held.wait(30)
        plain_send(items)

    monkeypatch.setattr(writes, "_send", held_send)
    run = GuardedJob(1)
    run.load_payload(job.serialize())
    run._run_task_id = "task-1"  # as in a worker
    assert begin_run(run, aj_app, job.serialize())
    end_run(run, aj_app)  # returns while the writer is held: nothing waited for Redis
    assert sending.wait(30)
    (state,) = store.keys_in_use()
    assert [holder for holder, _ in state.holders] == [job.job_id]
    assert GuardedJob._uniqueness is not None
    lock = GuardedJob._uniqueness.key_for(run)
    assert store.lock_holder(lock) == job.job_id
    held.set()
    flush_all(30)
    assert store.keys_in_use() == [] and store.lock_holder(lock) is None


def test_first_writes_from_many_threads_at_once_all_arrive(aj_redis: Any) -> None:
    writes = EndOfRun(aj_redis.client)
    start = threading.Barrier(8)

    def write(n: int) -> None:
        start.wait()
        for i in range(50):
            writes.command("RPUSH", "all", f"{n}:{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert writes.flush(30)
    assert aj_redis.client.llen("all") == 400


def test_an_idle_writer_thread_stops_and_the_next_write_starts_one(
    aj_redis: Any, monkeypatch: Any
) -> None:
    from activejob_celery import end_of_run

    monkeypatch.setattr(end_of_run, "IDLE_STOP", 0.1)
    writes = EndOfRun(aj_redis.client)

    def writers() -> int:
        return sum(
            1
            for thread in threading.enumerate()
            if thread.name == "activejob-end-of-run" and thread._target.__self__ is writes  # type: ignore[attr-defined]
        )

    writes.command("SET", "first", "1")
    assert writes.flush(30) and writers() == 1
    wait_for(lambda: writers() == 0, timeout=30)
    writes.command("SET", "second", "1")
    assert writes.flush(30)
    assert aj_redis.client.mget("first", "second") == [b"1", b"1"]


EXITING = """
import sys, time
import redis
from activejob_celery.end_of_run import end_of_run_for

client = redis.Redis.from_url(sys.argv[1])
writes = end_of_run_for(client)
plain_send = writes._send


def slow_send(items):
    time.sleep(0.5)  # the writer thread is still sending when the main thread exits
    plain_send(items)


writes._send = slow_send
writes.command("SET", "released", "1")
sys.exit(0)  # no worker_shutdown: a cold shutdown, or a worker embedded in a program
"""


def test_writes_still_queued_when_the_process_exits_are_sent(aj_redis: Any) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", EXITING, aj_redis.url],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert aj_redis.client.get("released") == b"1"


def test_a_run_that_re_enqueued_itself_to_run_now_hands_its_slot_to_that_retry(
    aj_app: Celery,
) -> None:
    class RetryNowJob(ApplicationJob):
        limits_concurrency(to=1, duration=60)

        def perform(self, n: int) -> None: ...

    store = store_for_app(aj_app)
    assert store is not None
    job = RetryNowJob.perform_later(1)
    assert job and job.successfully_enqueued
    run = RetryNowJob(1)
    run.load_payload(job.serialize())
    assert begin_run(run, aj_app, job.serialize())
    run.retry_job()  # to run now: its slot (held by this job id) is taken for it at enqueue
    assert run.successfully_enqueued
    end_run(run, aj_app)
    (state,) = store.keys_in_use()
    assert [holder for holder, _ in state.holders] == [job.job_id]  # still the retry's
    other = RetryNowJob.perform_later(2)
    assert other and other.successfully_enqueued
    (state,) = store.keys_in_use()
    assert [entry["job_id"] for entry in state.blocked] == [other.job_id]  # not a second run


def test_a_writer_thread_that_could_not_start_is_started_by_the_next_write(
    aj_redis: Any, monkeypatch: Any
) -> None:
    writes = EndOfRun(aj_redis.client)
    plain_start = threading.Thread.start
    refused = []

    def start_once_refused(thread: threading.Thread) -> None:
        if thread.name == "activejob-end-of-run" and not refused:
            refused.append(thread)
            raise RuntimeError("can't start new thread")  # a pids limit reached
        plain_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_once_refused)
    with pytest.raises(RuntimeError):
        writes.command("SET", "first", "1")
    writes.command("SET", "second", "1")
    assert writes.flush(10)
    assert aj_redis.client.mget("first", "second") == [b"1", b"1"]
