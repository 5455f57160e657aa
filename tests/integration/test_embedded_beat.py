"""`celery -A app worker -B`: the one-process setup starts every time and fires recurring jobs.

The embedded beat is a process forked from the worker. A fork while one of this package's
threads held a lock (the scheduler poller importing ``encodings.idna`` on its first connect)
left the beat blocked after "Starting..." in about half of the starts.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.worker import WorkerProcess, run_worker_subprocess, wait_for

APP_MODULE = '''\
"""A one-process app: `celery -A aj_embedded_app worker -B` with RedBeat and a recurring.yml."""
import faulthandler, os, signal

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob

faulthandler.register(signal.SIGUSR2, all_threads=True)  # the test dumps stacks of a hung start

URL = os.environ["AJ_EMBEDDED_URL"]
app = Celery("aj_embedded", broker=URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    beat_scheduler="redbeat.RedBeatScheduler",
    beat_max_loop_interval=1,
    redbeat_redis_url=URL,
    redbeat_lock_timeout=5,
    activejob_recurring_schedule=os.environ["AJ_EMBEDDED_FILE"],
    activejob_recurring_environment="test",
)
activejob_celery.init_app(app)


class TickJob(ApplicationJob):
    job_name = "aj_embedded.TickJob"

    def perform(self, start):
        with redis.Redis.from_url(URL) as client:
            client.rpush("aj:embedded:ticks", start)
'''

RECURRING = """\
test:
  tick:
    class: TickJob
    schedule: every 1 second
    args: [{start}]
"""


def start_worker(root: Path, redis_url: str) -> WorkerProcess:
    env = {"AJ_EMBEDDED_URL": redis_url, "AJ_EMBEDDED_FILE": str(root / "recurring.yml")}
    extra = ["-B", "--schedule", str(root / "beat-schedule")]
    return run_worker_subprocess(
        "aj_embedded_app", cwd=root, env=env, pool="prefork", concurrency=1, extra_args=extra
    )


def fires_on_every_start(root: Path, aj_redis, starts: int) -> None:
    (root / "aj_embedded_app.py").write_text(APP_MODULE)
    for start in range(starts):
        (root / "recurring.yml").write_text(RECURRING.format(start=start))
        worker = start_worker(root, aj_redis.url)
        with worker:
            worker.wait_ready(timeout=40)
            try:
                wait_for(ticked(aj_redis.client, start), timeout=40, message=f"start {start + 1}")
            except AssertionError:
                os.killpg(worker.pid, signal.SIGUSR2)  # every process prints its threads' stacks
                time.sleep(1)
                log = worker.log_text()
                raise AssertionError(f"start {start + 1} of {starts} hung:\n{log}") from None
        assert "beat: Starting..." in worker.log_text()


def ticked(client, start: int):
    """Whether the recurring job of start number ``start`` has run."""
    return lambda: str(start).encode() in client.lrange("aj:embedded:ticks", 0, -1)


@pytest.mark.slow
@pytest.mark.extended
def test_worker_with_embedded_beat_fires_a_recurring_job_on_each_of_3_starts(tmp_path, aj_redis):
    fires_on_every_start(tmp_path, aj_redis, 3)


@pytest.mark.stress
@pytest.mark.timeout(900)
def test_worker_with_embedded_beat_fires_a_recurring_job_on_each_of_20_starts(tmp_path, aj_redis):
    fires_on_every_start(tmp_path, aj_redis, 20)
