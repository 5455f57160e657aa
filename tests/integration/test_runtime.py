"""One runtime per app: one shared Redis client per server, closed by a second ``init_app``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from activejob_celery import init_app
from activejob_celery.dead_letters import store_for
from activejob_celery.redis_clients import CLIENT_NAME
from activejob_celery.runtime import runtime_for
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.worker.state import redis_for
from tests.support.fixtures import make_app
from tests.support.redis_server import RedisServer
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
OBSERVER = "aj-test-observer"


def _ours(client: Any) -> list[dict[str, Any]]:
    return [entry for entry in client.client_list() if entry["name"] == CLIENT_NAME]


def _ours_on(redis_db: Any) -> list[dict[str, Any]]:
    return [entry for entry in _ours(redis_db.client) if int(entry["db"]) == redis_db.db]


def test_the_parts_of_an_app_share_one_client_per_redis(aj_redis: Any) -> None:
    app = make_app(aj_redis.url)
    try:
        shared = scheduled_set_for(app).client
        assert store_for(app).client is shared  # type: ignore[attr-defined]
        assert redis_for(app) is shared
        assert shared.ping()
        assert _ours_on(aj_redis)
    finally:
        app.close()


def test_a_second_init_app_closes_the_clients_of_the_first(aj_redis: Any) -> None:
    app = make_app(aj_redis.url)
    try:
        first = runtime_for(app)
        client = scheduled_set_for(app).client
        client.ping()
        first_id = client.client_id()  # other tests' apps may hold connections on this server
        assert first_id in {int(entry["id"]) for entry in _ours_on(aj_redis)}
        init_app(app)
        assert runtime_for(app) is not first
        assert scheduled_set_for(app).client is not client
        # The first client's connection is closed: the server no longer lists it.
        wait_for(lambda: first_id not in {int(e["id"]) for e in _ours(aj_redis.client)}, timeout=30)
    finally:
        app.close()


def test_an_idle_solo_worker_holds_kombus_connections_plus_at_most_two() -> None:
    with RedisServer.start_private() as server:
        observer = server.client()
        observer.client_setname(OBSERVER)
        worker = run_worker_subprocess(
            "tests.integration.apps.quick_app", cwd=ROOT, env={"AJ_QUICK_REDIS_URL": server.url()}
        )
        with worker:
            worker.wait_ready(timeout=60)
            # Our parts (the scheduled set's poller at least) connect within a poll or two.
            wait_for(lambda: _ours(observer), timeout=30)
            time.sleep(2)  # idle: the poller, the counters' flusher and kombu's loop have run
            entries = [e for e in observer.client_list() if e["name"] != OBSERVER]
        ours = [e for e in entries if e["name"] == CLIENT_NAME]
        # Every other connection is kombu's (consumer, pidbox, producer): ours add at most two.
        assert 1 <= len(ours) <= 2, entries
        observer.close()
