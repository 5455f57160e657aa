"""`celery worker -Q '*'` and `-Q 'prefix*'`: queue patterns, as a real worker subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.broker_lists import queue_length
from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.apps.patterns_app"

pytestmark = pytest.mark.slow


@pytest.fixture
def patterns_app(aj_redis, monkeypatch):
    """The user-style app module; jobs are enqueued through an app on this test's database."""
    monkeypatch.setenv("AJ_PATTERNS_REDIS_URL", aj_redis.url)
    from tests.integration.apps import patterns_app

    make_app(aj_redis.url)  # perform_later publishes through the app init_app saw last
    return patterns_app


def worker(aj_redis, *queues: str, pool: str = "solo"):
    return run_worker_subprocess(
        APP, cwd=ROOT, env={"AJ_PATTERNS_REDIS_URL": aj_redis.url}, queues=list(queues), pool=pool
    )


def ran(aj_redis) -> set[str]:
    return {value.decode() for value in aj_redis.client.lrange("patterns:ran", 0, -1)}


def bindings(aj_redis) -> dict[str, set[bytes]]:
    client = aj_redis.client
    return {
        key.decode(): client.smembers(key) for key in client.scan_iter(match="_kombu.binding.*")
    }


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_star_consumes_known_queues_and_a_queue_first_used_later(aj_redis, patterns_app, pool):
    job = patterns_app.RecordJob
    assert job.set(queue="alpha").perform_later("a").successfully_enqueued
    assert job.set(queue="beta").perform_later("b").successfully_enqueued

    with worker(aj_redis, "*", pool=pool) as process:
        process.wait_ready(timeout=40)
        wait_for(lambda: {"a:alpha", "b:beta"} <= ran(aj_redis), timeout=30)
        assert job.set(queue="gamma").perform_later("c").successfully_enqueued
        wait_for(lambda: "c:gamma" in ran(aj_redis), timeout=40)
        log = process.log_text()
    assert ran(aj_redis) == {"a:alpha", "b:beta", "c:gamma"}
    assert "new queue 'gamma' matches" in log
    assert ".> *" not in log  # the banner lists real queues, not a queue named '*'
    assert "_kombu.binding.*" not in bindings(aj_redis)
    assert not any(b"*" in member for members in bindings(aj_redis).values() for member in members)


def test_prefix_pattern_consumes_matching_queues_only(aj_redis, patterns_app):
    job = patterns_app.RecordJob
    assert job.perform_later("d").successfully_enqueued  # the default queue: not matched
    with worker(aj_redis, "mail*") as process:
        process.wait_ready(timeout=40)
        assert job.set(queue="mailers").perform_later("m").successfully_enqueued
        wait_for(lambda: "m:mailers" in ran(aj_redis), timeout=40)
        log = process.log_text()
    assert ran(aj_redis) == {"m:mailers"}
    assert queue_length(aj_redis.client, "default") == 1  # still waiting for a worker of its own
    assert "Queue pattern 'mail*' matches no queue yet" in log


def test_mixed_names_and_patterns(aj_redis, patterns_app):
    job = patterns_app.RecordJob
    for queue in ("critical", "low_mail", "other"):
        assert job.set(queue=queue).perform_later(queue[0]).successfully_enqueued
    with worker(aj_redis, "critical", "low*") as process:
        process.wait_ready(timeout=40)
        wait_for(lambda: {"c:critical", "l:low_mail"} <= ran(aj_redis), timeout=30)
        assert job.set(queue="low_bulk").perform_later("b").successfully_enqueued
        wait_for(lambda: "b:low_bulk" in ran(aj_redis), timeout=40)
    assert ran(aj_redis) == {"c:critical", "l:low_mail", "b:low_bulk"}
    assert queue_length(aj_redis.client, "other") == 1
