"""Every part on a ``sentinel://`` broker (kombu's Sentinel transport), also after a failover.

One master, one replica and one Sentinel on loopback (``tests/support/sentinel.py``). The app is
configured as kombu documents it: ``sentinel://host:port/db`` plus ``master_name`` in
``broker_transport_options``, and nothing else: no ``activejob_dead_letters_url``, no
``redbeat_redis_url``. Each part must then find the master through the Sentinel itself.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery import Celery
from click.testing import CliRunner
from kombu.transport.redis import SentinelChannel
from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock

from activejob_celery import ApplicationJob, queue_as
from activejob_celery.adapters import named_adapter
from activejob_celery.cli import jobs
from activejob_celery.cli.stats import collect_stats
from activejob_celery.dead_letters import store_for
from activejob_celery.recurring import recurring_tasks, schedule_recurring_task
from activejob_celery.recurring.store import RecurringEntry
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.web.queues import queue_overview
from activejob_celery.worker.state import redis_for
from tests.support.broker_lists import queue_length
from tests.support.fixtures import JobBuffer, make_app
from tests.support.redis_server import HOST
from tests.support.sentinel import MASTER_NAME, SentinelCluster
from tests.support.worker import run_worker, wait_for

QUEUE = "sentinel_jobs"
_DATABASES = itertools.count(1)


@pytest.fixture(scope="module")
def aj_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    """A cluster for the tests that do not fail it over."""
    workdir = tmp_path_factory.mktemp("sentinel")
    with SentinelCluster.start_private(workdir=workdir) as cluster:
        yield cluster


@pytest.fixture
def aj_buffer() -> JobBuffer:
    return JobBuffer()


@pytest.fixture
def aj_sentinel_app(aj_sentinel: SentinelCluster) -> Iterator[Celery]:
    app = sentinel_app(aj_sentinel)
    yield app
    app.close()


def sentinel_app(cluster: SentinelCluster, **options: Any) -> Celery:
    """An app on a clean database of ``cluster``, set up as a Sentinel user would."""
    db = next(_DATABASES)
    with cluster.current_master().client(db) as client:
        client.flushdb()
    app = make_app(
        cluster.broker_url(db),
        broker_transport_options={**cluster.transport_options(), **options},
        activejob_dead_letters_url=None,  # the default: the broker
    )
    app.conf.sentinel_test_db = db
    return app


def master_client(cluster: SentinelCluster, app: Celery) -> redis.Redis:
    return cluster.current_master().client(app.conf.sentinel_test_db)


def recording_job(buffer: JobBuffer) -> type[ApplicationJob]:
    class SentinelJob(ApplicationJob):
        queue_as(QUEUE)

        def perform(self, label: str) -> None:
            buffer.add(label)

    return SentinelJob


def settled(cluster: SentinelCluster, app: Celery) -> bool:
    """Nothing waits, nothing is held unacknowledged: no later delivery can happen."""
    with master_client(cluster, app) as client:
        return client.hlen("unacked") == 0 and scheduled_set_for(app).count() == 0


def test_jobs_and_delayed_jobs_run_once_through_the_scheduled_set(aj_sentinel, aj_buffer):
    # A 1 s visibility timeout: a delayed job held by the worker as a Celery ETA message would
    # be restored and run again; in the scheduled set it is not on the broker until it is due.
    app = sentinel_app(aj_sentinel, visibility_timeout=1)
    job_class = recording_job(aj_buffer)
    assert named_adapter("celery").direct is not None  # the direct path, on the master
    job_class.perform_later("now")
    later = job_class.set(wait=2).perform_later("later")
    scheduled = scheduled_set_for(app)
    assert scheduled.get(later.job_id) is not None
    with master_client(aj_sentinel, app) as client:
        assert queue_length(client, QUEUE) == 1  # only the immediate job is on the broker

    with run_worker(app, queues=[QUEUE]):
        wait_for(lambda: len(aj_buffer.values) == 2, timeout=20)
        wait_for(lambda: settled(aj_sentinel, app), timeout=10)
    assert sorted(aj_buffer.values) == ["later", "now"]
    app.close()


def test_reliable_fetch_is_installed_on_the_sentinel_channel(aj_sentinel_app, aj_buffer):
    job_class = recording_job(aj_buffer)
    with run_worker(aj_sentinel_app, queues=[QUEUE]) as worker:
        channel = worker.consumer.task_consumer.channel
        assert isinstance(channel, SentinelChannel)
        assert channel._aj_reliable_fetch is not None
        job_class.perform_later("fetched")
        wait_for(lambda: aj_buffer.values == ["fetched"], timeout=15)


def test_a_failing_job_becomes_a_dead_letter_on_the_brokers_master(aj_sentinel_app):
    class ChargeCardJob(ApplicationJob):
        queue_as(QUEUE)

        def perform(self, order_id: int) -> None:
            raise RuntimeError(f"card declined for order {order_id}")

    store = store_for(aj_sentinel_app)
    assert store.client.connection_pool.service_name == MASTER_NAME
    with run_worker(aj_sentinel_app, queues=[QUEUE]):
        ChargeCardJob.perform_later(7)
        [letter] = wait_for(store.list, timeout=15)
    assert letter.job_class == ChargeCardJob.job_name
    assert letter.error_message == "card declined for order 7"


def test_redbeat_uses_the_brokers_sentinel_master_and_beat_ticks(aj_sentinel, aj_buffer):
    app = sentinel_app(aj_sentinel)
    db = app.conf.sentinel_test_db
    assert app.conf.redbeat_redis_url == f"redis-sentinel://{HOST}:{aj_sentinel.sentinel.port}/{db}"
    options = app.conf.redbeat_redis_options
    assert options["sentinels"] == [[HOST, aj_sentinel.sentinel.port]]
    assert (options["service_name"], options["db"]) == (MASTER_NAME, db)

    job_class = recording_job(aj_buffer)
    schedule_recurring_task("tick", job=job_class, schedule="every second", args=["tick"], app=app)
    assert [task.key for task in recurring_tasks(app)] == ["tick"]
    scheduler = RedBeatScheduler(app=app)
    scheduler.Entry = RecurringEntry  # as our beat_init receiver sets it
    acquire_distributed_beat_lock(SimpleNamespace(scheduler=scheduler))  # RedBeat's receiver

    def ticked() -> list[Any]:
        scheduler.tick()
        return aj_buffer.values

    with run_worker(app):
        assert wait_for(ticked, timeout=20, interval=0.2)[0] == "tick"
    scheduler.close()  # releases the lock
    app.close()


def test_cli_and_dashboard_read_the_sentinel_broker(aj_sentinel_app, aj_buffer):
    job_class = recording_job(aj_buffer)
    job_class.perform_later("waiting")
    job_class.set(wait=600).perform_later("later")
    runner = CliRunner()
    context = SimpleNamespace(app=aj_sentinel_app)

    def run(*args: str) -> str:
        result = runner.invoke(jobs, list(args), obj=context, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    stats = json.loads(run("stats", "--json"))
    assert stats["queues"][QUEUE] == 1
    assert (stats["scheduled"], stats["unacked"], stats["dead"]["total"]) == (1, 0, 0)
    assert run("scheduled", "count").strip() == "1"
    assert json.loads(run("dead", "list", "--json")) == []
    run("recurring", "list")  # RedBeat's Redis, derived from the broker

    overview = queue_overview(aj_sentinel_app)
    assert {row.name: row.depth for row in overview.queues}[QUEUE] == 1
    dashboard = redis_for(aj_sentinel_app)
    assert dashboard is not None and dashboard.ping()


def test_after_a_failover_jobs_and_delayed_jobs_run_once_on_the_promoted_replica(
    tmp_path, aj_buffer
):
    with SentinelCluster.start_private(workdir=tmp_path) as cluster:
        app = sentinel_app(cluster, visibility_timeout=1)
        job_class = recording_job(aj_buffer)
        with run_worker(app, queues=[QUEUE]):
            assert job_class.perform_later("before").successfully_enqueued
            wait_for(lambda: aj_buffer.values == ["before"], timeout=15)
            delayed = job_class.set(wait=1).perform_later("delayed across the failover")
            assert delayed.successfully_enqueued
            promoted = cluster.failover()

            assert job_class.perform_later("after").successfully_enqueued
            delayed = job_class.set(wait=1).perform_later("delayed after the failover")
            assert delayed.successfully_enqueued
            # The worker's consumer reconnects with Celery's growing retry interval (2, 4, 6 s
            # ...): on a loaded machine that alone can take tens of seconds.
            wait_for(lambda: len(aj_buffer.values) == 4, timeout=90)
            wait_for(lambda: settled(cluster, app), timeout=15)
            # The store, RedBeat and the CLI reach the new master too.
            assert store_for(app).count() == 0
            schedule_recurring_task("nightly", job=job_class, schedule="every day at 3am", app=app)
            assert [task.key for task in recurring_tasks(app)] == ["nightly"]
            assert collect_stats(app)["queues"][QUEUE] == 0
        assert cluster.master_port() == promoted.port
        assert sorted(aj_buffer.values) == [
            "after",
            "before",
            "delayed across the failover",
            "delayed after the failover",
        ]
        app.close()
