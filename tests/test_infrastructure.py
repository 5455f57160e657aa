"""The test infrastructure on its own: private Redis, clean databases, wait_for."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from celery import Celery

from tests.support.fixtures import make_app
from tests.support.redis_server import RedisServer, forget_stale_pools
from tests.support.worker import run_worker, run_worker_subprocess, wait_for


def test_redis_round_trip(aj_redis) -> None:
    assert aj_redis.url == aj_redis.server.url(aj_redis.db)
    assert aj_redis.url.startswith("redis://127.0.0.1:")
    assert aj_redis.client.dbsize() == 0
    aj_redis.client.set("aj:key", "value")
    assert aj_redis.client.get("aj:key") == b"value"


def test_each_test_gets_a_clean_database(aj_redis) -> None:
    assert aj_redis.client.dbsize() == 0
    aj_redis.client.set("aj:leftover", "1")  # must not be seen by the next test


def test_databases_rotate_and_are_flushed(aj_redis) -> None:
    assert aj_redis.client.dbsize() == 0
    assert 1 <= aj_redis.db <= 15


def test_server_restarts_on_the_same_port(aj_redis_server: RedisServer) -> None:
    port = aj_redis_server.port
    aj_redis_server.stop()
    assert not aj_redis_server.is_running
    aj_redis_server.start()
    assert aj_redis_server.port == port
    with aj_redis_server.client(0) as client:
        assert client.ping()


def test_a_stopped_server_is_started_again_for_the_next_test(aj_redis_server) -> None:
    aj_redis_server.stop()  # left stopped on purpose: aj_redis must bring it back


def test_aj_redis_brings_a_stopped_server_back(aj_redis) -> None:
    assert aj_redis.client.ping()


def test_start_private_outside_pytest_fixtures() -> None:
    with RedisServer.start_private() as server:
        with server.client(3) as client:
            client.set("k", "v")
            assert client.get("k") == b"v"
        assert server.version().startswith("Redis server v=")
    assert not server.is_running
    assert not server.workdir.exists()


def test_wait_for_returns_the_truthy_value() -> None:
    box: list[int] = []
    threading.Timer(0.05, box.append, args=(42,)).start()
    assert wait_for(lambda: box and box[0], timeout=5) == 42


def test_wait_for_times_out_with_a_message() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0\.1s waiting for the answer"):
        wait_for(lambda: False, timeout=0.1, message="the answer")


def _app(url: str) -> Celery:
    app = Celery("aj_infra", broker=url, backend=url, set_as_current=False)
    app.conf.update(broker_connection_retry_on_startup=True, task_create_missing_queues=True)

    @app.task(name="aj_infra.add", shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    return app


def test_in_process_worker_runs_a_task(aj_redis) -> None:
    app = _app(aj_redis.url)
    with run_worker(app):
        assert app.tasks["aj_infra.add"].delay(2, 3).get(timeout=10) == 5


def test_in_process_worker_consumes_only_the_given_queues(aj_redis) -> None:
    app = _app(aj_redis.url)
    add = app.tasks["aj_infra.add"]
    with run_worker(app, queues=["other"]):
        assert add.apply_async((1, 1), queue="other").get(timeout=10) == 2
        ignored = add.apply_async((1, 2), queue="celery")
        assert wait_for(lambda: aj_redis.client.llen("celery") == 1, timeout=5)
        assert ignored.state == "PENDING"
    with run_worker(app):  # selection was restored: the default queue is consumed again
        assert ignored.get(timeout=10) == 3


def test_worker_subprocess_runs_a_task(aj_redis) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {"AJ_SAMPLE_REDIS_URL": aj_redis.url}
    with run_worker_subprocess(
        "tests.support.sample_app", cwd=root, env=env, queues=["celery", "extra"]
    ) as worker:
        worker.wait_ready(timeout=30)
        aj_redis.client.delete("seen")
        app = _app(aj_redis.url)
        app.send_task("aj_sample.record", args=("seen", "a"), queue="extra")
        wait_for(lambda: aj_redis.client.lrange("seen", 0, -1) == [b"a"], timeout=10)
    assert worker.returncode is not None
    assert " ready." in worker.log_text()


def test_a_restart_leaves_no_stale_kombu_connection_to_a_later_app(aj_redis):
    url = aj_redis.server.url(0)  # one URL for both apps: kombu pools connections by URL
    first = make_app(url)
    try:
        assert first.control.inspect(timeout=0.2).ping() is None  # a pooled connection, used
    finally:
        first.close()
    aj_redis.server.restart()
    forget_stale_pools(aj_redis.server)  # what aj_redis does before each test
    second = make_app(url)
    try:
        assert second.control.inspect(timeout=0.2).ping() is None  # no "Connection closed"
    finally:
        second.close()
