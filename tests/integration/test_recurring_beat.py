"""Recurring jobs end to end: `celery beat` with RedBeat and a worker, as subprocesses."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.broker_lists import queue_length
from tests.support.worker import WorkerProcess, run_worker_subprocess, wait_for

pytestmark = pytest.mark.slow

APP_MODULE = '''\
"""A user's app for the recurring tests: jobs record each run in a Redis list."""
import json, os, time

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob

URL = os.environ["AJ_RECURRING_URL"]
app = Celery("aj_recurring", broker=URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    redbeat_redis_url=URL,
    redbeat_lock_timeout=5,  # 5 x --max-interval, RedBeat's rule
    activejob_recurring_schedule=os.environ["AJ_RECURRING_FILE"],
    activejob_recurring_environment="test",
    activejob_dead_letters_url=URL,
)
activejob_celery.init_app(app)


class TickJob(ApplicationJob):
    job_name = "aj_recurring.TickJob"

    def perform(self, label):
        with redis.Redis.from_url(URL) as client:
            client.rpush("aj:ticks", json.dumps({
                "label": label, "job_id": self.job_id, "enqueued_at": self.enqueued_at.timestamp(),
            }))
'''

EVERY_SECOND = """\
test:
  tick_a:
    class: TickJob
    schedule: every 1 second
    args: [a]
  tick_b:
    class: aj_recurring.TickJob
    schedule: every 1 second
    args: [b]
  nightly:
    class: TickJob
    schedule: every day at 2am America/New_York
    args: [nightly]
"""

EDITED = """\
test:
  tick_a:
    class: TickJob
    schedule: every day at 3am
    args: [a]
  tick_c:
    class: TickJob
    schedule: every 1 second
    args: [c]
  nightly:
    class: TickJob
    schedule: every day at 2am America/New_York
    args: [nightly]
"""


class Project:
    """The user's project directory: app module, recurring.yml, and the commands they run."""

    def __init__(self, root: Path, redis_url: str) -> None:
        self.root = root
        self.yml = root / "recurring.yml"
        (root / "aj_recurring_app.py").write_text(APP_MODULE)
        self.env = {"AJ_RECURRING_URL": redis_url, "AJ_RECURRING_FILE": str(self.yml)}

    def celery(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "celery", "-A", "aj_recurring_app", *args]
        return subprocess.run(
            command,
            cwd=self.root,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def worker(self) -> WorkerProcess:
        return run_worker_subprocess("aj_recurring_app", cwd=self.root, env=self.env)

    def beat(self, name: str) -> WorkerProcess:
        workdir = self.root / name  # beat writes its pid file in its directory
        workdir.mkdir(exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "aj_recurring_app",
            "beat",
            "-S",
            "redbeat.RedBeatScheduler",
            "--max-interval",
            "1",
            "--loglevel",
            "INFO",
        ]
        # Keep the caller's PYTHONPATH: from a checkout that is not the installed one, beat
        # must import the package under test, as the worker does.
        path = os.pathsep.join(filter(None, (str(self.root), os.environ.get("PYTHONPATH"))))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **self.env}
        return WorkerProcess(args, cwd=workdir, env=env, stop_timeout=15)


def ticks(client, label=None):
    found = [json.loads(raw) for raw in client.lrange("aj:ticks", 0, -1)]
    return [tick for tick in found if label is None or tick["label"] == label]


def sends(beat: WorkerProcess) -> int:
    return beat.log_text().count("Sending due task activejob:recurring:")


SENT = r"\[([\d-]+ [\d:]+,\d+): INFO/MainProcess\] Scheduler: Sending due task activejob:recurring:"


ENQUEUED = re.compile(r"Recurring job 'tick' enqueued \S+ \(Job ID: ([0-9a-f-]+)\)")


def send_times(beat: WorkerProcess, key: str) -> list[float]:
    """When beat sent entry ``key``, from its log (beat's clock, not the worker's)."""
    stamps = re.findall(SENT + re.escape(key) + " ", beat.log_text())
    return [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() for stamp in stamps]


@pytest.fixture
def aj_project(tmp_path, aj_redis):
    return Project(tmp_path, aj_redis.url)


@pytest.mark.extended
def test_every_second_runs_on_schedule_and_a_synced_edit_changes_and_removes(aj_project, aj_redis):
    aj_project.yml.write_text(EVERY_SECOND)
    client = aj_redis.client
    with aj_project.worker() as worker, aj_project.beat("beat") as beat:
        worker.wait_ready(timeout=40)
        wait_for(lambda: len(ticks(client, "a")) >= 4 and len(ticks(client, "b")) >= 4, timeout=30)
        fired = send_times(beat, "tick_a")
        gaps = [b - a for a, b in itertools.pairwise(fired)]
        assert len(fired) >= 4 and all(0.5 < gap < 2.5 for gap in gaps), gaps  # once a second
        assert len({tick["job_id"] for tick in ticks(client)}) == len(ticks(client))
        assert ticks(client, "nightly") == []  # new entries wait for their time (redbeat#154)
        assert "recurring jobs synced (added ['tick_a', 'tick_b', 'nightly']" in beat.log_text()

        aj_project.yml.write_text(EDITED)
        synced = aj_project.celery("jobs", "recurring", "sync")
        synced_at = time.time()
        assert synced.returncode == 0, synced.stderr
        assert synced.stdout.splitlines() == [
            "added tick_c",
            "updated tick_a",
            "removed tick_b",
            "1 added, 1 updated, 1 removed, 1 unchanged",
        ]
        wait_for(lambda: len(ticks(client, "c")) >= 3, timeout=20)
        late = [at for key in ("tick_a", "tick_b") for at in send_times(beat, key)]
        assert [at for at in late if at > synced_at + 1.5] == []  # a runs at 3am, b is gone
        assert len(send_times(beat, "tick_c")) >= 3
        assert not client.exists("redbeat:activejob:recurring:tick_b")

        listed = aj_project.celery("jobs", "recurring", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {row["key"]: row for row in json.loads(listed.stdout)}
        assert sorted(rows) == ["nightly", "tick_a", "tick_c"]
        assert rows["tick_a"]["next_run_at"].endswith("T03:00:00+00:00")
        assert rows["nightly"]["next_run_at"][11:19] == "02:00:00"  # New York wall time
        assert rows["nightly"]["last_run_at"] is None and rows["tick_c"]["total_run_count"] >= 3


@pytest.mark.extended
def test_two_beats_with_redbeats_lock_never_fire_a_run_twice(aj_project, aj_redis):
    aj_project.yml.write_text(
        "test:\n  tick:\n    class: TickJob\n    schedule: every 1 second\n    args: [t]\n"
    )
    client = aj_redis.client
    with aj_project.worker() as worker, aj_project.beat("one") as one:
        worker.wait_ready(timeout=40)
        wait_for(lambda: ticks(client, "t"), timeout=30)
        with aj_project.beat("two") as two:
            wait_for(lambda: "beat: Starting..." in two.log_text(), timeout=20)
            started = time.time()
            wait_for(lambda: time.time() - started >= 10, timeout=15, interval=0.2)
            assert sends(two) == 0 and "Acquired lock" not in two.log_text()
            fired = [at for at in send_times(one, "tick") if at >= started]
            assert 5 <= len(fired) <= 12, fired  # once a second: two senders would double it
            assert min(b - a for a, b in itertools.pairwise(fired)) > 0.5

            one.stop()  # a graceful stop releases the lock: the standby takes over
            wait_for(lambda: sends(two) >= 2, timeout=20)
        handover = sorted(send_times(one, "tick") + send_times(two, "tick"))
        assert min(b - a for a, b in itertools.pairwise(handover)) > 0.5

        # Every firing that reached the worker enqueued exactly one job, with its own job_id.
        # Beat logs "Sending due task" before it publishes, and its SIGTERM handler raises
        # SystemExit, so each of the two stops may cut off the one send in flight.
        total = sends(one) + sends(two)

        def enqueued_and_ran() -> list[str] | None:
            enqueued = ENQUEUED.findall(worker.log_text())
            ran = [tick["job_id"] for tick in ticks(client, "t")]
            caught_up = len(enqueued) >= total - 2 and sorted(ran) == sorted(enqueued)
            return enqueued if caught_up else None

        enqueued = wait_for(enqueued_and_ran, timeout=20)
        assert total - 2 <= len(enqueued) <= total
        assert len(set(enqueued)) == len(enqueued)


def test_a_bad_recurring_yml_fails_sync_and_beat_with_the_entry_named(aj_project, aj_redis):
    aj_project.yml.write_text(
        textwrap.dedent(
            """\
            test:
              cleanup:
                class: CleanupJob
                schedule: every day at 2am
              tick:
                class: TickJob
                schedule: every fortnight
            """
        )
    )
    synced = aj_project.celery("jobs", "recurring", "sync")
    assert synced.returncode == 1
    assert (
        "recurring job 'cleanup': class 'CleanupJob' is not a registered job class" in synced.stderr
    )
    assert "recurring job 'tick': schedule 'every fortnight' is not supported" in synced.stderr

    with aj_project.beat("beat") as beat:
        wait_for(lambda: beat.returncode is not None, timeout=30)
    assert beat.returncode == 1
    assert "invalid recurring jobs, not starting" in beat.log_text()
    assert "class 'CleanupJob' is not a registered job class" in beat.log_text()
    assert not aj_redis.client.exists("redbeat::lock")  # released for a healthy beat
    assert aj_redis.client.keys("redbeat:activejob:*") == []


def test_the_example_project_syncs_lists_and_runs_now(aj_redis):
    example = Path(__file__).resolve().parents[2] / "examples" / "recurring"
    env = {**os.environ, "RECURRING_REDIS_URL": aj_redis.url, "APP_ENV": "production"}

    def celery(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "celery", "-A", "app", "jobs", "recurring", *args],
            cwd=example,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    synced = celery("sync")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.splitlines()[-1] == "8 added, 0 updated, 0 removed, 0 unchanged"
    listed = celery("list", "--json")
    rows = {row["key"]: row for row in json.loads(listed.stdout)}
    assert rows["cleanup_old_sessions"]["next_run_at"].endswith(
        ("T02:00:00-05:00", "T02:00:00-04:00")
    )
    assert rows["generate_reports"]["description"] == "Weekly report for the sales team"
    ran = celery("run-now", "cleanup_old_records")
    assert ran.returncode == 0, ran.stderr
    assert "Enqueued cleanup_old_records: jobs.CleanupJob" in ran.stdout
    assert queue_length(aj_redis.client, "maintenance") == 1  # queue_as("maintenance")
