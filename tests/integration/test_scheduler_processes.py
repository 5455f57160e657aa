"""The scheduled set across real processes: two polling workers, a killed poller, worker restarts,
and the ``celery -A app jobs scheduled ...`` commands run as subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from activejob_celery import ApplicationJob
from activejob_celery.scheduler import scheduled_set_for
from tests.support.broker_lists import queue_entries, queue_length
from tests.support.fixtures import make_app
from tests.support.worker import WorkerProcess, run_worker, run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]

APP_SOURCE = textwrap.dedent(
    """
    import json, os, time

    import redis
    from celery import Celery
    from celery.signals import before_task_publish

    import activejob_celery
    from activejob_celery import ApplicationJob

    BROKER = os.environ["AJ_SCHED_BROKER"]
    NAME = os.environ.get("AJ_SCHED_NAME", "?")
    app = Celery("sched_app", broker=BROKER)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        activejob_scheduler_poll_interval=float(os.environ.get("AJ_SCHED_INTERVAL", "1")),
        activejob_scheduler_lease=float(os.environ.get("AJ_SCHED_LEASE", "30")),
        activejob_scheduler_batch_size=int(os.environ.get("AJ_SCHED_BATCH", "1000")),
    )
    if os.environ.get("AJ_SCHED_URL"):
        app.conf.activejob_scheduler_url = os.environ["AJ_SCHED_URL"]
    activejob_celery.init_app(app)
    client = redis.Redis.from_url(BROKER)


    class RecordJob(ApplicationJob):
        job_name = "sched.RecordJob"

        def perform(self, tag):
            client.rpush("sched:ran", json.dumps([self.job_id, tag, time.time(), NAME]))


    @before_task_publish.connect
    def count_publish(**kwargs):
        client.hincrby("sched:published_by", NAME, 1)
        if os.environ.get("AJ_SCHED_FREEZE"):
            # Stands for a poller that dies between claiming a batch and publishing it.
            client.set("sched:frozen", repr(time.time()))
            time.sleep(3600)
    """
)


@pytest.fixture
def aj_sched_app(tmp_path: Path) -> Path:
    """A user-style app module (``sched_app``) for ``celery -A sched_app ...`` subprocesses."""
    (tmp_path / "sched_app.py").write_text(APP_SOURCE)
    return tmp_path


def _env(aj_redis: Any, name: str, **extra: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {
        "AJ_SCHED_BROKER": aj_redis.url,
        "AJ_SCHED_NAME": name,
        "PYTHONPATH": pythonpath,
        **extra,
    }


def _record_job(url: str) -> type[ApplicationJob]:
    """The test process's twin of ``sched_app.RecordJob`` (same ``job_name``)."""

    class RecordJob(ApplicationJob):
        job_name = "sched.RecordJob"

        def perform(self, tag: str) -> None:
            with redis.Redis.from_url(url) as client:
                client.rpush("sched:ran", json.dumps([self.job_id, tag, time.time(), "test"]))

    return RecordJob


def _ran(client: Any) -> list[tuple[str, str, float, str]]:
    return [tuple(json.loads(raw)) for raw in client.lrange("sched:ran", 0, -1)]


@pytest.mark.slow
@pytest.mark.parametrize("direct", [True, False], ids=["direct", "through-celery"])
@pytest.mark.extended
def test_two_workers_polling_the_same_set_publish_no_duplicates(aj_redis, aj_sched_app, direct):
    extra = {"AJ_SCHED_BATCH": "10", "AJ_SCHED_INTERVAL": "0.5"}
    conf: dict[str, Any] = {}
    if not direct:
        other = aj_redis.db % 15 + 1
        aj_redis.server.client(other).flushdb()
        extra["AJ_SCHED_URL"] = conf["activejob_scheduler_url"] = aj_redis.server.url(other)
    app = make_app(aj_redis.url, **conf)
    record_job = _record_job(aj_redis.url)
    workers = [
        run_worker_subprocess("sched_app", cwd=aj_sched_app, env=_env(aj_redis, name, **extra))
        for name in ("w1", "w2")
    ]
    with workers[0], workers[1]:
        for worker in workers:
            worker.wait_ready()
        start = time.time() + 1.0
        ids = [
            record_job.set(wait=start + 2.0 * n / 200 - time.time()).perform_later(n).job_id
            for n in range(200)
        ]
        wait_for(lambda: len(_ran(aj_redis.client)) >= 200, timeout=60, message="200 runs")
        time.sleep(0.5)  # room for a duplicate to show up
    runs = _ran(aj_redis.client)
    assert Counter(run[0] for run in runs) == Counter(ids)
    assert all(done >= start - 0.001 for _, _, done, _ in runs)
    if not direct:
        published = {
            k.decode(): int(v) for k, v in aj_redis.client.hgetall("sched:published_by").items()
        }
        assert sum(published.values()) == 200, published
        assert published.get("w1", 0) > 0 and published.get("w2", 0) > 0, published
    assert scheduled_set_for(app).count() == 0
    app.close()


@pytest.mark.slow
@pytest.mark.reliability
def test_a_poller_killed_after_claiming_loses_nothing(aj_redis, aj_sched_app):
    other = aj_redis.db % 15 + 1
    other_url = aj_redis.server.url(other)
    other_client = aj_redis.server.client(other)
    other_client.flushdb()
    conf = {
        "activejob_scheduler_url": other_url,
        "activejob_scheduler_lease": 2.0,
        "activejob_scheduler_embedded": False,
    }
    app = make_app(aj_redis.url, **conf)
    record_job = _record_job(aj_redis.url)
    ids = [record_job.set(wait=0.2).perform_later(n).job_id for n in range(30)]
    env = _env(aj_redis, "doomed", AJ_SCHED_URL=other_url, AJ_SCHED_LEASE="2", AJ_SCHED_FREEZE="1")
    args = [sys.executable, "-m", "celery", "-A", "sched_app", "jobs", "scheduler"]
    poller = WorkerProcess(args, cwd=aj_sched_app, env={**os.environ, **env})
    with poller:
        wait_for(lambda: aj_redis.client.get("sched:frozen"), timeout=30, message="the claim")
        poller.kill()  # SIGKILL, between claiming the batch and publishing any of it
    assert poller.returncode == -signal.SIGKILL
    claims = other_client.zrange("activejob:scheduled:claims", 0, -1, withscores=True)
    assert len(claims) == 30 and other_client.zcard("activejob:scheduled") == 0
    lease_ends = min(score for _, score in claims)
    assert _ran(aj_redis.client) == []

    app.close()
    app = make_app(aj_redis.url, **{**conf, "activejob_scheduler_embedded": True})
    with run_worker(app):
        wait_for(lambda: len(_ran(aj_redis.client)) >= 30, timeout=30, message="30 runs")
        time.sleep(0.3)
    runs = _ran(aj_redis.client)
    assert Counter(run[0] for run in runs) == Counter(ids)
    assert min(run[2] for run in runs) >= lease_ends
    assert other_client.zcard("activejob:scheduled:claims") == 0
    assert other_client.hlen("activejob:scheduled:entries") == 0
    other_client.flushdb()
    app.close()


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.extended
def test_a_worker_restart_loses_no_scheduled_job(aj_redis, aj_sched_app):
    app = make_app(aj_redis.url)
    record_job = _record_job(aj_redis.url)
    env = _env(aj_redis, "w")
    with run_worker_subprocess("sched_app", cwd=aj_sched_app, env=env) as crashed:
        crashed.wait_ready()
        start = time.time() + 4.0
        ids = [
            record_job.set(wait=start + 5.0 * n / 60 - time.time()).perform_later(n).job_id
            for n in range(60)
        ]
        crashed.kill()  # SIGKILL before anything is due: nothing in flight, all in the set
    assert scheduled_set_for(app).count() == 60
    with run_worker_subprocess("sched_app", cwd=aj_sched_app, env=env) as stopped:
        stopped.wait_ready()
        wait_for(lambda: len(_ran(aj_redis.client)) >= 10, timeout=30, message="10 runs")
        stopped.send_signal(signal.SIGTERM)  # warm shutdown in the middle of the window
        stopped.proc.wait(30)  # type: ignore[union-attr]
    assert 10 <= len(_ran(aj_redis.client)) < 60
    with run_worker_subprocess("sched_app", cwd=aj_sched_app, env=env) as restarted:
        restarted.wait_ready()
        wait_for(lambda: len({r[0] for r in _ran(aj_redis.client)}) >= 60, timeout=40)
    runs = _ran(aj_redis.client)
    assert {run[0] for run in runs} == set(ids)
    assert scheduled_set_for(app).count() == 0
    app.close()


def _cli(aj_redis: Any, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_env(aj_redis, "cli")}
    command = [sys.executable, "-m", "celery", "-A", "sched_app", "jobs", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
@pytest.mark.extended
def test_the_scheduled_commands_as_subprocesses(aj_redis, aj_sched_app):
    app = make_app(aj_redis.url)
    record_job = _record_job(aj_redis.url)
    jobs = [
        record_job.set(wait=600 + 60 * n, queue=f"q{n}").perform_later(f"t{n}") for n in range(3)
    ]

    counted = _cli(aj_redis, aj_sched_app, "scheduled", "count")
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip() == "3"

    listed = _cli(aj_redis, aj_sched_app, "scheduled", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [row["job_id"] for row in rows] == [job.job_id for job in jobs]
    assert [row["queue_name"] for row in rows] == ["q0", "q1", "q2"]
    assert rows[0]["job_class"] == "sched.RecordJob" and rows[0]["arguments"] == ["t0"]

    table = _cli(aj_redis, aj_sched_app, "scheduled", "list", "--queue", "q1")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["JOB", "ID", "CLASS"] and len(lines) == 2
    assert jobs[1].job_id in lines[1] and "RecordJob" in lines[1] and "q1" in lines[1]

    shown = _cli(aj_redis, aj_sched_app, "scheduled", "show", jobs[2].job_id)
    assert shown.returncode == 0 and f"Job ID:        {jobs[2].job_id}" in shown.stdout
    missing = _cli(aj_redis, aj_sched_app, "scheduled", "show", "nope")
    assert missing.returncode == 1 and "No scheduled job nope" in missing.stderr

    released = _cli(aj_redis, aj_sched_app, "scheduled", "run-now", jobs[0].job_id)
    assert released.returncode == 0 and "Released 1 job(s)." in released.stdout
    assert queue_length(aj_redis.client, "q0") == 1
    deleted = _cli(aj_redis, aj_sched_app, "scheduled", "delete", jobs[1].job_id)
    assert deleted.returncode == 0 and "Deleted 1 job(s)." in deleted.stdout
    assert [job.job_id for job in scheduled_set_for(app).list()] == [jobs[2].job_id]

    aj_redis.client.zadd("activejob:scheduled", {f"{jobs[2].job_id}/{jobs[2].provider_job_id}": 1})
    once = _cli(aj_redis, aj_sched_app, "scheduler", "--once")
    assert once.returncode == 0 and "Released 1 job(s)." in once.stdout, once.stderr
    assert queue_length(aj_redis.client, "q2") == 1 and scheduled_set_for(app).count() == 0
    app.close()


@pytest.mark.slow
def test_the_standalone_scheduler_releases_jobs_and_stops_on_sigterm(aj_redis, aj_sched_app):
    app = make_app(aj_redis.url, activejob_scheduler_embedded=False)
    record_job = _record_job(aj_redis.url)
    job = record_job.set(wait=1.0).perform_later("standalone")
    env = {**os.environ, **_env(aj_redis, "standalone", AJ_SCHED_INTERVAL="0.2")}
    args = [sys.executable, "-m", "celery", "-A", "sched_app", "jobs", "scheduler"]
    with WorkerProcess(args, cwd=aj_sched_app, env=env) as poller:
        wait_for(lambda: "Ctrl-C to stop" in poller.log_text(), timeout=30)
        wait_for(
            lambda: queue_length(aj_redis.client, "default") == 1, timeout=15, message="release"
        )
        poller.send_signal(signal.SIGTERM)
        assert poller.proc is not None and poller.proc.wait(15) == 0
    assert "Scheduler stopped; released 1 job(s)." in poller.log_text()
    [message] = [json.loads(raw) for raw in queue_entries(aj_redis.client, "default")]
    assert message["headers"]["id"] == job.provider_job_id
    # No eta when released at or after its time (the process may start late); its own time as
    # eta when released within the early window (activejob_release_ahead).
    eta = message["headers"]["eta"]
    if eta is not None:
        assert timedelta(0) <= datetime.fromisoformat(eta) - job.scheduled_at <= timedelta(0, 0, 1)
    app.close()
