"""The registry of workers and running jobs, against a real Redis (no worker)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery import Celery

from activejob_celery.config import Settings
from activejob_celery.deferred_replies import DeferredReplies
from activejob_celery.errors import ConfigurationError
from activejob_celery.parts_off import parts_off
from activejob_celery.running import (
    Heartbeat,
    RunningStore,
    WorkerRegistry,
    pool_name,
    running_details,
    running_jobs,
    store_for,
)

FIELDS = {"hostname": "w1@host", "pid": 42, "pool": "prefork", "concurrency": 4, "queues": ["a"]}


@pytest.fixture
def store(aj_redis: Any) -> RunningStore:
    return RunningStore(aj_redis.client, key_prefix="activejob", interval=5.0)


def test_a_registered_worker_is_listed_with_its_fields(store: RunningStore) -> None:
    store.register("w1@host", FIELDS, now=1000.0)
    [worker] = store.workers(now=1001.0)
    assert worker == {
        "hostname": "w1@host",
        "pid": 42,
        "pool": "prefork",
        "concurrency": 4,
        "queues": ["a"],
        "busy": 0,
        "started_at": 1000.0,
        "last_heartbeat": 1000.0,
        "state": "running",
        "stale": False,
    }


def test_a_heartbeat_refreshes_fields_and_expiry_and_keeps_the_start(
    store: RunningStore, aj_redis: Any
) -> None:
    store.register("w1@host", FIELDS, now=1000.0)
    store.job_started("w1@host", "t1", {"job_id": "j1"})
    aj_redis.client.persist(store.worker_key("w1@host"))
    store.heartbeat("w1@host", {**FIELDS, "queues": ["a", "b"]}, now=1003.0)
    [worker] = store.workers(now=1004.0)
    assert (worker["queues"], worker["last_heartbeat"], worker["started_at"]) == (
        ["a", "b"],
        1003.0,
        1000.0,
    )
    assert worker["busy"] == 1
    assert 0 < aj_redis.client.ttl(store.worker_key("w1@host")) <= store.ttl == 30
    assert 0 < aj_redis.client.ttl(store.busy_key("w1@host")) <= 30


def test_a_worker_that_missed_heartbeats_is_stale_then_gone(
    store: RunningStore, aj_redis: Any
) -> None:
    store.register("w1@host", FIELDS, now=1000.0)
    store.register("w2@host", {**FIELDS, "hostname": "w2@host"}, now=1000.0)
    assert [w["stale"] for w in store.workers(now=1012.0)] == [False, False]
    assert [w["stale"] for w in store.workers(now=1013.0)] == [True, True]
    aj_redis.client.delete(store.worker_key("w2@host"))  # its records expired
    assert [w["hostname"] for w in store.workers(now=1013.0)] == ["w1@host"]
    assert aj_redis.client.zrange(store.workers_key, 0, -1) == [b"w1@host"]
    # A starting worker drops the names of workers silent for a day.
    store.register("w3@host", FIELDS, now=1000.0 + 86400.0 + 1)
    assert aj_redis.client.zrange(store.workers_key, 0, -1) == [b"w3@host"]


def test_staleness_is_judged_by_the_interval_of_the_worker(aj_redis: Any) -> None:
    quick = RunningStore(aj_redis.client, key_prefix="activejob", interval=1.0)
    quick.register("w1@host", FIELDS, now=1000.0)
    reader = RunningStore(aj_redis.client, key_prefix="activejob", interval=60.0)
    assert [w["stale"] for w in reader.workers(now=1002.0)] == [False]
    assert [w["stale"] for w in reader.workers(now=1003.0)] == [True]


def test_running_jobs_are_listed_per_worker_until_they_finish(store: RunningStore) -> None:
    store.register("w1@host", FIELDS)
    store.register("w2@host", FIELDS)
    store.job_started("w2@host", "t-late", {"job_id": "late", "started_at": 20.0})
    store.job_started("w1@host", "t-early", {"job_id": "early", "started_at": 10.0})
    jobs = store.running()
    assert [(j["job_id"], j["worker"], j["provider_job_id"]) for j in jobs] == [
        ("early", "w1@host", "t-early"),
        ("late", "w2@host", "t-late"),
    ]
    assert [w["busy"] for w in store.workers()] == [1, 1]
    store.job_finished("w1@host", "t-early")
    assert [j["job_id"] for j in store.running()] == ["late"]


def test_a_restarted_worker_drops_what_its_previous_run_listed(store: RunningStore) -> None:
    store.register("w1@host", FIELDS)
    store.job_started("w1@host", "t1", {"job_id": "killed-with-it"})
    store.register("w1@host", FIELDS)
    assert store.running() == []


def test_stopping_then_unregister(store: RunningStore, aj_redis: Any) -> None:
    store.register("w1@host", FIELDS)
    store.job_started("w1@host", "t1", {"job_id": "j1"})
    store.stopping("w1@host")
    assert store.workers()[0]["state"] == "stopping"
    assert [j["job_id"] for j in store.running()] == ["j1"]  # still finishing
    store.unregister("w1@host")
    assert store.workers() == [] and store.running() == []
    assert aj_redis.client.keys("activejob:worker*") == []


def test_a_job_of_a_worker_not_listed_is_not_shown(store: RunningStore) -> None:
    store.job_started("ghost@host", "t1", {"job_id": "j1"})
    assert store.running() == []


def test_an_unreadable_record_is_shown_with_what_is_known(
    store: RunningStore, aj_redis: Any
) -> None:
    store.register("w1@host", FIELDS)
    aj_redis.client.hset(store.busy_key("w1@host"), "t1", "not json")
    assert store.running() == [{"provider_job_id": "t1", "worker": "w1@host"}]


def test_job_records_are_json(store: RunningStore, aj_redis: Any) -> None:
    store.job_started("w1@host", "t1", {"job_id": "j1", "started_at": 1.5})
    raw = aj_redis.client.hget(store.busy_key("w1@host"), "t1")
    assert json.loads(raw) == {"job_id": "j1", "started_at": 1.5}


def test_details_are_empty_until_progress_and_continuations_are_wired() -> None:
    assert running_details(["a", "b"]) == {
        "a": {"done": None, "total": None, "message": None, "step": None, "cursor": None},
        "b": {"done": None, "total": None, "message": None, "step": None, "cursor": None},
    }


def test_running_jobs_of_an_app_carry_the_details(aj_app: Celery) -> None:
    store = store_for(aj_app)
    assert store is not None
    store.register("w1@host", FIELDS)
    store.job_started("w1@host", "t1", {"job_id": "j1"})
    [job] = running_jobs(aj_app)
    assert job["job_id"] == "j1" and job["step"] is None and job["done"] is None


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("celery.concurrency.prefork:TaskPool", "prefork"),
        ("solo", "solo"),
        (None, ""),
    ],
)
def test_pool_names(given: Any, name: str) -> None:
    assert pool_name(given) == name


def test_pool_name_of_a_class() -> None:
    from celery.concurrency.thread import TaskPool

    assert pool_name(TaskPool) == "thread"


def test_the_worker_step_is_added_on_a_redis_broker(aj_app: Celery) -> None:
    assert WorkerRegistry in aj_app.steps["worker"]
    assert "running jobs and workers" not in parts_off(aj_app)


def test_without_a_redis_the_registry_is_off_with_the_setting_named() -> None:
    from activejob_celery import init_app

    app = Celery("no_redis", broker="memory://", set_as_current=False)
    app.conf.activejob_scheduler = "celery"
    init_app(app)
    assert WorkerRegistry not in app.steps["worker"]
    assert store_for(app) is None
    assert "activejob_scheduler_url" in parts_off(app)["running jobs and workers"]


def test_the_heartbeat_interval_setting_is_checked() -> None:
    assert Settings(worker_heartbeat_interval=2).worker_heartbeat_interval == 2
    with pytest.raises(ConfigurationError, match="activejob_worker_heartbeat_interval"):
        Settings(worker_heartbeat_interval=0)


class CountingRedis(redis.Redis):
    """Counts the commands sent through the client (and waited for)."""

    sent = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent += 1
        return super().execute_command(*args, **options)


def test_a_run_waits_for_no_reply_at_its_start_or_end(aj_redis: Any) -> None:
    client = CountingRedis.from_url(aj_redis.url)
    store = RunningStore(client, key_prefix="activejob", interval=5.0)
    store.job_started("w1@host", "t1", {"job_id": "j1"})
    store.job_finished("w1@host", "t1")
    store.job_started("w1@host", "t2", {"job_id": "j2"})
    assert client.sent == 0  # written on a held connection, replies read later
    store.flush()
    assert aj_redis.client.hkeys(store.busy_key("w1@host")) == [b"t2"]
    assert 0 < aj_redis.client.ttl(store.busy_key("w1@host")) <= store.ttl
    client.close()


def test_several_commands_go_in_one_write_and_an_error_reply_surfaces(aj_redis: Any) -> None:
    client = redis.Redis.from_url(aj_redis.url)
    replies = DeferredReplies(client)
    replies.send_many(("SET", "many:a", "1"), ("INCR", "many:a"), ("HSET", "many:a", "f", "x"))
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        replies.drain()
    assert client.get("many:a") == b"2"
    replies.send_many(("SET", "many:b", "1"))  # a new connection after the error
    replies.drain()
    assert client.get("many:b") == b"1"
    client.close()


def test_a_redis_that_is_down_stops_no_job_and_is_not_tried_for_each_run(
    aj_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from activejob_celery.running import job_finished, job_started
    from activejob_celery.running.tracking import serve_worker
    from tests.support.fixtures import make_app

    app = make_app(aj_redis.url, activejob_scheduler_url="redis://127.0.0.1:1/0")
    store = store_for(app)
    assert store is not None
    serve_worker("w1@host")
    task = SimpleNamespace(app=app, request=SimpleNamespace(id="t1", hostname="w1@host"))
    job = SimpleNamespace(job_name="Job", job_id="j1", queue_name="default", executions=0)
    with caplog.at_level(logging.WARNING):
        assert job_started(task, job) is None
        job_finished(None)
        paused = store.paused_until
        assert paused > 0
        assert job_started(task, job) is None  # not tried again: no second warning
    said = [r.getMessage() for r in caplog.records if "as running" in r.getMessage()]
    assert len(said) == 1 and "j1" in said[0] and "not listed for 10 s" in said[0]
    app.close()


def test_a_heartbeat_unlists_the_runs_of_pool_processes_that_died(store: RunningStore) -> None:
    # A pool process killed mid-run (hard time limit, OOM) never writes its run's end, and
    # every heartbeat renews the hash: it would show as running for as long as the worker lives.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.register("w1@host", FIELDS)
    store.job_started("w1@host", "t-dead", {"job_id": "dead", "pid": gone.pid})
    store.job_started("w1@host", "t-live", {"job_id": "live", "pid": os.getpid()})
    store.job_started("w1@host", "t-nopid", {"job_id": "nopid"})
    queues = SimpleNamespace(consume_from={"a": None})
    worker = SimpleNamespace(
        hostname="w1@host",
        pool_cls="prefork",
        concurrency=2,
        app=SimpleNamespace(amqp=SimpleNamespace(queues=queues)),
    )
    Heartbeat(store, worker).beat()
    assert sorted(job["job_id"] for job in store.running()) == ["live", "nopid"]
