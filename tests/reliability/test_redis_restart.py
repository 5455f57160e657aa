"""Redis (AOF, fsync always) killed and restarted under a stream of enqueues and scheduled jobs.

Every ``perform_later`` that returned ``successfully_enqueued=True`` runs; every one that did not
holds an ``EnqueueError``; jobs waiting in the scheduled set survive; the worker and its
scheduler poller reconnect by themselves (the same worker process throughout).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from activejob_celery import ApplicationJob, EnqueueError, queue_as
from activejob_celery.scheduler import scheduled_set_for
from tests.reliability.servers import AofRedisServer
from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.apps.restart_app"

pytestmark = pytest.mark.reliability

# The worker app's recovery settings (importing it here would set its Celery app up).
TRANSPORT_OPTIONS = {
    "visibility_timeout": 5,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


class StreamJob(ApplicationJob):
    """The producer's side of ``restart_app.StreamJob`` (same job_name and queue)."""

    job_name = "restart.StreamJob"
    queue_as("stream")

    def perform(self, label: str) -> None:
        raise AssertionError("runs in the worker subprocess only")


@dataclass
class Sent:
    job: ApplicationJob
    scheduled_for: float | None
    """Epoch seconds of a ``set(wait=...)`` job; None for an immediate one."""
    finished_at: float
    seconds: float
    """How long ``perform_later`` took."""


class Stream:
    """Enqueues a job every few milliseconds in a thread: immediate and scheduled in turn."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aj-enqueue-stream", daemon=True)
        self._random = random.Random(11)

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            started = time.monotonic()
            if number % 2:
                job, at = StreamJob.perform_later(f"now-{number}"), None
            else:
                wait = self._random.uniform(0.5, 3.0)
                at = time.time() + wait
                job = StreamJob.set(wait=wait).perform_later(f"later-{number}")
            assert job is not False
            with self._lock:
                self.sent.append(Sent(job, at, time.time(), time.monotonic() - started))
            time.sleep(0.01)

    def snapshot(self) -> list[Sent]:
        with self._lock:
            return list(self.sent)

    def failures(self) -> int:
        return sum(1 for sent in self.snapshot() if not sent.job.successfully_enqueued)

    def successes_after(self, moment: float) -> int:
        return sum(
            1
            for sent in self.snapshot()
            if sent.job.successfully_enqueued and sent.finished_at > moment
        )


def _runs(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(line.split()[0] for line in path.read_text().splitlines() if line.strip())


def test_redis_killed_and_restarted_under_enqueues_loses_no_accepted_job(tmp_path):
    server = AofRedisServer(workdir=tmp_path / "redis")
    runs_file = tmp_path / "runs.txt"
    server.start()
    try:
        url = server.url(0)
        app = make_app(url, broker_transport_options=dict(TRANSPORT_OPTIONS))
        scheduled = scheduled_set_for(app)
        env = {"AJ_RESTART_REDIS_URL": url, "AJ_RESTART_RUNS_FILE": str(runs_file)}
        worker = run_worker_subprocess(
            APP, cwd=ROOT, env=env, queues=["stream"], pool="prefork", concurrency=2
        )
        with worker:
            worker.wait_ready(timeout=30)
            worker_pid = worker.pid
            with Stream() as stream:
                wait_for(lambda: len(stream.snapshot()) >= 60, timeout=30)
                killed_at = time.time()
                server.kill()  # SIGKILL: no shutdown save; the AOF (fsync always) is all there is
                wait_for(
                    lambda: stream.failures() >= 4 and time.time() - killed_at >= 2.5,
                    timeout=30,
                    message="an outage of 2.5 s with failed enqueues",
                )
                server.start()
                restarted_at = time.time()
                wait_for(lambda: stream.successes_after(restarted_at) >= 60, timeout=60)
            sent = stream.snapshot()
            accepted = [item for item in sent if item.job.successfully_enqueued]
            refused = [item for item in sent if not item.job.successfully_enqueued]

            wanted = {item.job.job_id for item in accepted}
            wait_for(lambda: wanted <= set(_runs(runs_file)), timeout=90, message="every run")
            recovered_in = time.time() - restarted_at
            wait_for(lambda: scheduled.count() == 0, timeout=30, message="an empty scheduled set")
            assert worker.returncode is None, "the worker died instead of reconnecting"
            assert worker.pid == worker_pid
            log = worker.log_text()

        runs = _runs(runs_file)
        assert server.aof_exists
        assert all(isinstance(item.job.enqueue_error, EnqueueError) for item in refused)
        assert all(item.job.enqueue_error is None for item in accepted)
        assert max(item.seconds for item in sent) < 15, "an enqueue hung while Redis was down"
        # Scheduled before the kill, due after it: they waited in Redis through the restart.
        survivors = [
            item
            for item in accepted
            if item.scheduled_for is not None and item.finished_at < killed_at < item.scheduled_for
        ]
        assert survivors, "no scheduled job was waiting when Redis was killed"
        assert all(runs[item.job.job_id] >= 1 for item in survivors)
        assert "Connection to broker lost" in log  # the worker did lose Redis ...
        assert "Scheduler cannot reach Redis" in log  # ... and so did its poller
        assert "Scheduler reconnected to Redis" in log
        duplicated = sum(1 for job_id in wanted if runs[job_id] > 1)
        refused_ran = sum(1 for item in refused if runs[item.job.job_id])
        print(
            f"Redis SIGKILL + AOF restart: {len(sent)} enqueues "
            f"({sum(item.scheduled_for is not None for item in sent)} scheduled), "
            f"{len(accepted)} accepted, {len(refused)} refused with EnqueueError, "
            f"{len(survivors)} scheduled across the restart; 0 lost, {duplicated} ran twice, "
            f"{refused_ran} refused ran anyway; down {restarted_at - killed_at:.1f}s, all run "
            f"{recovered_in:.1f}s after the restart; slowest enqueue "
            f"{max(item.seconds for item in sent):.2f}s"
        )
        assert duplicated <= 30  # jobs in flight when the connection dropped run again
        app.close()
    finally:
        server.close()
