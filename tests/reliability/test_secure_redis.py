"""Redis with a password and an ACL user, plain and over TLS: every part of the package connects.

A real worker (with its embedded scheduler poller) and a real ``celery beat -S
redbeat.RedBeatScheduler`` run the app ``tests.reliability.apps.secure_app``; the test process
enqueues, schedules, and reads dead letters, RedBeat's entries, the dashboard's counters and
queues, and ``jobs stats``. The app is configured as the Celery docs say (credentials in the
URL, ``broker_use_ssl`` for TLS) and nothing more: each feature must find its way from those
settings.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from activejob_celery import ApplicationJob
from activejob_celery.cli.stats import collect_stats
from activejob_celery.dead_letters import store_for
from activejob_celery.recurring import recurring_tasks
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.web.queues import queue_overview
from activejob_celery.worker.metrics import last_hour
from tests.reliability.servers import ADMIN_PASSWORD, PASSWORD, USER, SecureRedisServer
from tests.support.broker_lists import queue_length
from tests.support.fixtures import make_app
from tests.support.worker import WorkerProcess, run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.apps.secure_app"
RECURRING = """\
secure_tick:
  class: secure.EchoJob
  schedule: every 1 second
  args: [tick]
"""
CONNECTION_TROUBLE = (
    "CERTIFICATE_VERIFY_FAILED",
    "certificate verify failed",
    "NOAUTH",
    "WRONGPASS",
    "Authentication required",
    "Could not write job counters",
    "Could not store",
    "cannot reach Redis",
)

pytestmark = pytest.mark.reliability


class EchoJob(ApplicationJob):
    """The producer's side of ``secure_app.EchoJob``."""

    job_name = "secure.EchoJob"

    def perform(self, label: str) -> None:
        raise AssertionError("runs in the worker subprocess only")


class FailingJob(ApplicationJob):
    """The producer's side of ``secure_app.FailingJob``."""

    job_name = "secure.FailingJob"

    def perform(self, order_id: int) -> None:
        raise AssertionError("runs in the worker subprocess only")


@pytest.fixture(params=["acl", "tls+acl"])
def aj_secure(request, tmp_path):
    server = SecureRedisServer(tls=request.param == "tls+acl", workdir=tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.close()


def _refused(server: SecureRedisServer) -> None:
    """The server really demands what the test claims: a login, and TLS with a trusted CA."""
    base = {"host": "127.0.0.1", "port": server.port, "socket_connect_timeout": 2.0,
            "socket_timeout": 5.0, "retry": Retry(NoBackoff(), 0)}  # fmt: skip
    tls = {"ssl": True, "ssl_cert_reqs": "required", "ssl_ca_certs": str(server.cert_path)}
    anonymous = {**base, **tls} if server.tls else base
    with pytest.raises(redis.AuthenticationError), redis.Redis(**anonymous) as client:
        client.set("anonymous", 1)
    with (
        pytest.raises(redis.AuthenticationError),
        redis.Redis(**anonymous, username=USER, password=ADMIN_PASSWORD) as client,
    ):
        client.ping()
    if server.tls:
        with (
            pytest.raises(redis.ConnectionError),
            redis.Redis(**base, username=USER, password=PASSWORD) as client,
        ):
            client.ping()  # plain TCP to the TLS port
        untrusted = {**base, "ssl": True, "ssl_cert_reqs": "required"}
        with (
            pytest.raises(redis.ConnectionError, match="certificate verify failed"),
            redis.Redis(**untrusted, username=USER, password=PASSWORD) as client,
        ):
            client.ping()  # TLS, but without the CA file the certificate is not trusted


def _beat(env: dict[str, str], workdir: Path) -> WorkerProcess:
    workdir.mkdir()
    args = [sys.executable, "-m", "celery", "-A", APP, "beat", "-S", "redbeat.RedBeatScheduler",
            "--max-interval", "1", "--loglevel", "INFO"]  # fmt: skip
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **env}
    return WorkerProcess(args, cwd=workdir, env=full_env, stop_timeout=15)


def _dead_list(env: dict[str, str]) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", APP, "jobs", "dead", "list", "--json"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_broker_scheduled_set_dead_letters_redbeat_and_dashboard_connect(aj_secure, tmp_path):
    server = aj_secure
    _refused(server)
    url = server.url(0)
    yml = tmp_path / "recurring.yml"
    yml.write_text(RECURRING)
    env = {"AJ_SECURE_URL": url, "AJ_SECURE_RECURRING": str(yml)}
    conf: dict[str, object] = {"activejob_recurring_schedule": str(yml), "redbeat_redis_url": url}
    if server.tls:
        env["AJ_SECURE_CA"] = str(server.cert_path)
        conf["broker_use_ssl"] = server.ssl_options()
    app = make_app(url, **conf)
    app.conf.activejob_dead_letters_url = None  # as in the worker's app: the broker's Redis
    client = server.client(0)
    ran = lambda: {item.decode() for item in client.lrange("secure:ran", 0, -1)}  # noqa: E731

    worker = run_worker_subprocess(APP, cwd=ROOT, env=env, queues=["default"])
    with worker, _beat(env, tmp_path / "beat") as beat:
        worker.wait_ready(timeout=30)
        now = EchoJob.perform_later("now")
        # 3 s: past the early release window (1 s), so it waits in the scheduled set first
        later = EchoJob.set(wait=3).perform_later("later")
        failing = FailingJob.perform_later(42)
        assert now.successfully_enqueued and later.successfully_enqueued
        assert failing.successfully_enqueued
        assert scheduled_set_for(app).get(later.job_id) is not None or "later" in ran()

        wait_for(lambda: {"now", "later", "tick"} <= ran(), timeout=60, message="every job")
        letters = wait_for(lambda: store_for(app).list(job_class="secure.FailingJob"), timeout=30)
        states = wait_for(
            lambda: [state for state in recurring_tasks(app) if state.total_run_count], timeout=30
        )
        # The worker writes the dashboard's per-minute counters about once a second.
        minutes = wait_for(lambda: sum(minute.total for minute in last_hour(app) or []) >= 3,
                           timeout=30, message="the dashboard counters")  # fmt: skip
        overview = queue_overview(app)
        stats = collect_stats(app)
        listed = _dead_list(env)
        worker_log, beat_log = worker.log_text(), beat.log_text()

    assert [letter.job_id for letter in letters] == [failing.job_id]
    assert letters[0].reason == "unhandled"
    assert letters[0].error_message == "order 42 cannot be charged"
    assert [entry["job_id"] for entry in listed] == [failing.job_id]
    assert [state.key for state in states] == ["secure_tick"]
    assert minutes
    assert "default" in [row.name for row in overview.queues]
    assert overview.unacked is not None
    assert stats["dead"]["total"] == 1
    assert stats["unacked"] is not None and stats["scheduled"] == 0
    assert "beat: recurring jobs synced (added ['secure_tick']" in beat_log
    for trouble in CONNECTION_TROUBLE:
        assert trouble not in worker_log, f"worker: {trouble}\n{worker_log[-3000:]}"
        assert trouble not in beat_log, f"beat: {trouble}\n{beat_log[-3000:]}"
    client.close()
    app.close()


def test_tls_options_in_the_url_alone_also_work(tmp_path):
    """redis-py and kombu both read ``ssl_cert_reqs``/``ssl_ca_certs`` from a rediss:// URL."""
    server = SecureRedisServer(tls=True, workdir=tmp_path / "redis")
    server.start()
    try:
        url = f"{server.url(0)}?ssl_cert_reqs=required&ssl_ca_certs={server.cert_path}"
        app = make_app(url)
        EchoJob.set(wait=60).perform_later("waits")
        assert scheduled_set_for(app).count() == 1
        FailingJob.perform_later(7)
        with app.connection_for_read() as connection:
            assert connection.ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                      "ssl_ca_certs": str(server.cert_path)}  # fmt: skip
        store = store_for(app)
        assert store.count() == 0  # reachable over TLS
        assert queue_length(server.client(0), "default") == 1
        app.close()
    finally:
        server.close()
