"""The status store on a real Redis: transitions, TTLs, the cancel flag, settings and the CLI."""

from __future__ import annotations

import json
import re
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery import Celery
from click.testing import CliRunner

import activejob_celery.status as status_module
from activejob_celery import ApplicationJob, ConfigurationError, cancel, is_cancelled, job_status
from activejob_celery.cli import jobs
from activejob_celery.config import Settings
from activejob_celery.parts_off import parts_off
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.status import StatusStore, status_store_for
from tests.support.fixtures import make_app
from tests.support.worker import wait_for


class StoredJob(ApplicationJob):
    def perform(self) -> None: ...


def _cli(app: Celery, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(jobs, list(args), obj=SimpleNamespace(app=app))
    assert result.exit_code == code, result.output
    return result.output


def test_a_run_moves_through_running_to_its_outcome(aj_redis: Any) -> None:
    store = StatusStore(aj_redis.client, Settings(status_ttl=60))
    assert store.read("j1") is None
    assert store.start("j1", worker="w1@host", job_class="StoredJob", queue="default")
    found = store.read("j1")
    assert found is not None and found["status"] == "running" and found["worker"] == "w1@host"
    assert found["started_at"] <= found["updated_at"]
    assert aj_redis.client.ttl(store.key("j1")) > 60  # not ended: kept while it runs
    assert store.end("j1", "retrying", {"done": "3"}) == "retrying"
    assert store.read("j1")["done"] == 3
    assert store.start("j1", worker="w2@host", job_class="StoredJob", queue="default")
    assert store.end("j1", "succeeded") == "succeeded"
    ended = store.read("j1")
    assert ended["status"] == "succeeded" and ended["done"] == 3 and ended["ended_at"]
    assert 0 < aj_redis.client.ttl(store.key("j1")) <= 60  # activejob_status_ttl after the end


def test_a_status_is_gone_after_its_ttl(aj_redis: Any) -> None:
    store = StatusStore(aj_redis.client, Settings(status_ttl=1))
    store.start("j2", worker="w", job_class="StoredJob", queue="default")
    store.end("j2", "discarded")
    assert store.read("j2")["status"] == "discarded"
    wait_for(lambda: store.read("j2") is None, timeout=10)


def test_the_cancel_flag_outlives_the_status_and_stops_the_start(aj_redis: Any) -> None:
    store = StatusStore(aj_redis.client, Settings(status_ttl=60))
    assert store.cancel("j3") is None  # unknown ids can be cancelled before they are seen
    assert aj_redis.client.ttl(store.cancel_key("j3")) >= 60
    assert store.is_cancelled("j3")
    assert not store.start("j3", worker="w", job_class="StoredJob", queue="default")
    assert store.read("j3")["status"] == "cancelled"
    store.start("j4", worker="w", job_class="StoredJob", queue="default")
    assert store.cancel("j4") == "running"
    assert store.read("j4")["status"] == "running"  # a running job runs to its end
    assert store.end("j4", "retrying") == "cancelled"  # and is not run again


def test_is_cancelled_reads_redis_at_most_once_a_second(aj_app: Celery, aj_redis: Any) -> None:
    job = StoredJob.perform_later()
    assert isinstance(job, StoredJob)
    calls: list[str] = []
    store = status_store_for(aj_app)
    assert store is not None
    original = store.is_cancelled

    def counting(job_id: str) -> bool:
        calls.append(job_id)
        return original(job_id)

    store.is_cancelled = counting  # type: ignore[method-assign]
    assert [is_cancelled(job.job_id) for _ in range(1000)] == [False] * 1000
    assert len(calls) == 1
    aj_redis.client.set(store.cancel_key(job.job_id), "1")  # said by another process
    wait_for(lambda: is_cancelled(job.job_id), timeout=5)
    assert 2 <= len(calls) < 1000


def test_cancel_refuses_an_empty_id(aj_app: Celery) -> None:
    with pytest.raises(ValueError, match="job id"):
        cancel(" ")


def test_tracking_can_be_turned_off(aj_redis: Any) -> None:
    app = make_app(aj_redis.url, activejob_track_status=False)
    job = StoredJob.perform_later()
    assert isinstance(job, StoredJob) and job.successfully_enqueued
    assert aj_redis.client.keys("activejob:status:*") == []
    with pytest.raises(ConfigurationError, match="activejob_track_status"):
        job_status(job.job_id, app=app)
    app.close()


def test_without_a_redis_a_worker_is_told_which_setting_turns_it_on() -> None:
    app = make_app("memory://", activejob_dead_letters_url="redis://127.0.0.1:1/0")
    assert "activejob_scheduler_url" in parts_off(app)[status_module.JOB_STATUS]
    assert status_store_for(app) is None
    app.close()


def test_status_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="activejob_status_ttl"):
        Settings(status_ttl=0)
    with pytest.raises(ConfigurationError, match="activejob_track_status"):
        Settings(track_status="yes")  # type: ignore[arg-type]


def test_jobs_status_and_jobs_cancel(aj_app: Celery) -> None:
    job = StoredJob.perform_later()
    assert isinstance(job, StoredJob)
    store = status_store_for(aj_app)
    assert store is not None
    store.progress(job.job_id, {"done": "5", "total": "10", "message": "half way"})
    text = _cli(aj_app, "status", job.job_id)
    assert f"Job {job.job_id}: queued" in text and "Progress: 5 / 10 (50.0%)" in text
    assert "Message: half way" in text and f"Class: {StoredJob.job_name}" in text
    data = json.loads(_cli(aj_app, "status", job.job_id, "--json"))
    assert data["status"] == "queued" and data["done"] == 5 and data["job_id"] == job.job_id
    assert data["updated_at"].endswith("+00:00")
    told = _cli(aj_app, "cancel", job.job_id)
    assert f"Cancelled {job.job_id} (status was queued)" in told
    assert json.loads(_cli(aj_app, "status", job.job_id, "--json"))["status"] == "cancelled"
    assert "No status for job nope" in _cli(aj_app, "status", "nope", code=1)


def test_the_status_rides_with_the_message_in_one_round_trip(aj_app: Celery, aj_redis: Any) -> None:
    """On the direct path the status is written by the same script call that pushes the message."""
    StoredJob.perform_later()
    StoredJob.perform_later()  # the first two prove the direct template
    # Count this thread's commands on the app's shared client (the server-wide count also sees
    # other threads, such as the statistics flusher, at any moment).
    client = scheduled_set_for(aj_app).client
    me, sent = threading.get_ident(), []
    real = client.execute_command
    real_send = redis.connection.Connection.send_packed_command

    def counting(*args: Any, **options: Any) -> Any:
        if threading.get_ident() == me:
            sent.append(args[0])
        return real(*args, **options)

    def counting_packed(connection: Any, command: Any, *args: Any, **options: Any) -> None:
        if threading.get_ident() == me:  # pre-packed: the commands in what is sent
            data = b"".join(command) if isinstance(command, list) else command
            sent.extend(name.decode() for name in re.findall(rb"^\*\d+\r\n\$\d+\r\n([A-Z]+)", data))
        real_send(connection, command, *args, **options)

    started = time.time()
    client.execute_command = counting  # type: ignore[method-assign]
    redis.connection.Connection.send_packed_command = counting_packed  # type: ignore[method-assign]
    try:
        job = StoredJob.perform_later()
    finally:
        del client.execute_command
        redis.connection.Connection.send_packed_command = real_send  # type: ignore[method-assign]
    assert isinstance(job, StoredJob)
    assert sent == ["EVALSHA"]  # one script call pushes the message and writes the status
    found = job_status(job.job_id, app=aj_app)
    assert found is not None and found["status"] == "queued" and found["updated_at"] >= started - 1


def test_an_interrupted_run_keeps_an_end_written_before_it(aj_redis: Any) -> None:
    """A hard time limit: the main process writes ``dead``, then the dying child ``interrupted``."""
    store = StatusStore(aj_redis.client, Settings())
    store.start("j5", worker="w", job_class="StoredJob", queue="default")
    assert store.end("j5", "dead") == "dead"
    assert store.end("j5", "interrupted") == "dead"
    store.start("j6", worker="w", job_class="StoredJob", queue="default")
    assert store.end("j6", "interrupted") == "interrupted"  # a shutdown mid-run


class OtherStoredJob(ApplicationJob):
    def perform(self) -> None: ...


def test_a_batch_writes_each_status_with_its_class_and_queue_sent_once_per_kind(
    aj_redis: Any,
) -> None:
    store = StatusStore(aj_redis.client, Settings())
    jobs = [StoredJob(), OtherStoredJob(), StoredJob(), StoredJob().set(queue="side")]
    jobs += [OtherStoredJob() for _ in range(3)]
    with aj_redis.client.pipeline(transaction=True) as pipe:
        store.enqueued_batch(pipe, jobs)
        [(command, _options)] = pipe.command_stack
        assert pipe.execute() == [len(jobs)]
    # EVAL, script, key count, a key per job, now, ttl, status, kinds, then three per kind
    assert len(command) == 3 + len(jobs) + 4 + 3 * 3
    for job in jobs:
        found = store.read(job.job_id)
        assert found is not None and found["status"] == "queued"
        assert (found["job_class"], found["queue"]) == (job.job_name, job.queue_name)
        assert aj_redis.client.ttl(store.key(job.job_id)) > 0


def test_a_delayed_batch_writes_what_one_by_one_writes_would(aj_redis: Any) -> None:
    store = StatusStore(aj_redis.client, Settings())
    now = time.time()
    jobs = [StoredJob(), OtherStoredJob(), StoredJob().set(queue="side"), StoredJob()]
    times = [now + 3600, now + 10, now - 5, now + 86400.5]
    singles = [StoredJob() for _ in jobs]
    with aj_redis.client.pipeline(transaction=False) as pipe:
        store.enqueued_batch(pipe, jobs, "scheduled", times)
        for single, job, at in zip(singles, jobs, times, strict=True):
            single.job_name, single.queue_name = job.job_name, job.queue_name
            store.enqueued(pipe, single, "scheduled", at)
        pipe.execute()
    for job, single in zip(jobs, singles, strict=True):
        batch, one = (aj_redis.client.hgetall(store.key(j.job_id)) for j in (job, single))
        assert batch.pop(b"updated_at") and one.pop(b"updated_at")
        assert batch == one and batch[b"status"] == b"scheduled" and b"run_at" in batch
        ttls = [aj_redis.client.ttl(store.key(j.job_id)) for j in (job, single)]
        assert abs(ttls[0] - ttls[1]) <= 2
