"""Redis (AOF, fsync always) killed and restarted under a stream of enqueues and scheduled jobs.

Every ``perform_later`` that returned ``successfully_enqueued=True`` runs; every one that did not
holds an ``EnqueueError``; jobs waiting in the scheduled set survive; the worker and its
scheduler poller reconnect by themselves (the same worker process throughout).

An upstream limit decides *when* Redis is killed in the first test (see docs/reliability.md):
kombu 5.7 crashes the worker ("Unrecoverable error: AttributeError ... 'hostname'") when the
connection drops while the worker holds unacknowledged messages and a pop is pending, so the
first test kills Redis while the worker is idle (the stream goes on, to the scheduled set).
The second kills it under a busy worker: with reliable fetch (see
``activejob_celery.reliable_fetch``) the message being fetched is recorded as unacknowledged
in the same step that pops it, so nothing is lost, whether the worker reconnects or crashes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from activejob_celery import ApplicationJob, EnqueueError, perform_all_later, queue_as
from activejob_celery.scheduler import scheduled_set_for
from tests.reliability.servers import AofRedisServer
from tests.support.broker_lists import queue_length
from tests.support.fixtures import make_app
from tests.support.worker import WorkerProcess, run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.apps.restart_app"
# kombu's crash on a channel whose connection object it dropped ('hostname', 'client', ...);
# activejob_celery.transport_gone turns the known forms into logged connection errors.
KOMBU_CRASH = "Unrecoverable error: AttributeError(\"'NoneType' object has no attribute"

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

    def perform(self, label: str, seconds: float = 0.0) -> None:
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
    """Enqueues a job every few milliseconds in a thread: immediate and delayed in turn.

    ``immediate`` off sends only delayed jobs; ``waits`` is the range of their delays.
    """

    def __init__(self, waits: tuple[float, float]) -> None:
        self.sent: list[Sent] = []
        self.raised: list[Exception] = []
        self.waits = waits
        self.immediate = threading.Event()
        self.immediate.set()
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
            try:
                if number % 2 and self.immediate.is_set():
                    job, at = StreamJob.perform_later(f"now-{number}"), None
                else:
                    wait = self._random.uniform(*self.waits)
                    at = time.time() + wait
                    job = StreamJob.set(wait=wait).perform_later(f"later-{number}")
            except Exception as error:  # perform_later must report, never raise: noted, go on
                self.raised.append(error)
                continue
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


@pytest.fixture
def aj_aof(tmp_path):
    server = AofRedisServer(workdir=tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.close()


def _worker(url: str, runs_file: Path) -> WorkerProcess:
    env = {"AJ_RESTART_REDIS_URL": url, "AJ_RESTART_RUNS_FILE": str(runs_file)}
    return run_worker_subprocess(
        APP, cwd=ROOT, env=env, queues=["stream"], pool="prefork", concurrency=2
    )


@pytest.mark.extended
def test_redis_killed_and_restarted_under_enqueues_loses_no_accepted_job(aj_aof, tmp_path):
    server = aj_aof
    runs_file = tmp_path / "runs.txt"
    client = server.client(0)
    app = make_app(server.url(0), broker_transport_options=dict(TRANSPORT_OPTIONS))
    scheduled = scheduled_set_for(app)
    worker = _worker(server.url(0), runs_file)
    with worker:
        worker.wait_ready(timeout=30)
        worker_pid = worker.pid
        # Delayed jobs sent before the kill are due 10-12 s later: after the restart.
        with Stream(waits=(10.0, 12.0)) as stream:
            wait_for(lambda: len(stream.snapshot()) >= 60, timeout=30)
            stream.immediate.clear()  # the worker drains its queue; delayed jobs keep coming
            wait_for(lambda: queue_length(client, "stream") == 0 and client.hlen("unacked") == 0,
                     timeout=30, message="an idle worker")  # fmt: skip
            before = [item for item in stream.snapshot() if item.job.successfully_enqueued]
            killed_at = time.time()
            server.kill()  # SIGKILL: no shutdown save; the AOF (fsync always) is all there is
            stream.immediate.set()
            stream.waits = (0.5, 2.0)
            wait_for(lambda: stream.failures() >= 4 and time.time() - killed_at >= 2.5,
                     timeout=30, message="an outage of 2.5 s with failed enqueues")  # fmt: skip
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
    assert stream.raised == [], "perform_later raised instead of recording EnqueueError"
    assert server.aof_exists
    assert all(isinstance(item.job.enqueue_error, EnqueueError) for item in refused)
    assert all(item.job.enqueue_error is None for item in accepted)
    assert max(item.seconds for item in sent) < 15, "an enqueue hung while Redis was down"
    # Delayed before the kill and due after it: they waited in Redis through the outage (on a
    # loaded machine some of them may fall due before the restart; they still waited).
    survivors = [item for item in before if (item.scheduled_for or 0) > killed_at]
    assert survivors
    assert all(runs[item.job.job_id] >= 1 for item in survivors)
    assert "Connection to broker lost" in log  # the worker did lose Redis ...
    assert "Scheduler cannot reach Redis" in log  # ... and so did its poller
    assert "Scheduler reconnected to Redis" in log
    duplicated = sum(1 for job_id in wanted if runs[job_id] > 1)
    refused_ran = sum(1 for item in refused if runs[item.job.job_id])
    print(
        f"Redis SIGKILL + AOF restart, idle worker: {len(sent)} enqueues "
        f"({sum(item.scheduled_for is not None for item in sent)} delayed), "
        f"{len(accepted)} accepted, {len(refused)} refused with EnqueueError, "
        f"{len(survivors)} delayed across the restart; 0 lost, {duplicated} ran twice, "
        f"{refused_ran} refused ran anyway; down {restarted_at - killed_at:.1f}s, all run "
        f"{recovered_in:.1f}s after the restart; slowest enqueue "
        f"{max(item.seconds for item in sent):.2f}s"
    )
    assert duplicated == 0  # nothing was in flight at the kill
    client.close()
    app.close()


@pytest.mark.extended
def test_redis_killed_under_a_busy_worker_loses_nothing(aj_aof, tmp_path):
    """Not even the message being fetched; also measures kombu's crash on reconnect."""
    server = aj_aof
    runs_file = tmp_path / "runs.txt"
    client = server.client(0)
    make_app(server.url(0), broker_transport_options=dict(TRANSPORT_OPTIONS))
    jobs = [StreamJob(f"busy-{number}", 0.02) for number in range(300)]
    perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)
    wanted = {job.job_id for job in jobs}

    def settled() -> bool:
        nothing_left = queue_length(client, "stream") == 0 and client.hlen("unacked") == 0
        return nothing_left and not wanted - set(_runs(runs_file))

    first = _worker(server.url(0), runs_file)
    replacement = None
    with first:
        first.wait_ready(timeout=30)
        wait_for(lambda: len(_runs(runs_file)) >= 50, timeout=30)
        server.kill()
        killed_with = len(_runs(runs_file))
        wait_for(lambda: first.returncode is not None or "Connection to broker lost"
                 in first.log_text(), timeout=30)  # fmt: skip
        server.start()
        # The worker either reconnects, or hits kombu's crash while reconnecting.
        wait_for(lambda: first.returncode is not None or len(_runs(runs_file)) > killed_with + 20,
                 timeout=60, message="the worker to go on or to exit")  # fmt: skip
        crashed = first.returncode is not None
        if crashed:
            assert KOMBU_CRASH in first.log_text(), first.log_text()[-3000:]
            replacement = _worker(server.url(0), runs_file)
            replacement.start()  # what a supervisor (systemd, Kubernetes) does
        try:
            if replacement is not None:
                replacement.wait_ready(timeout=30)
            wait_for(
                settled,
                timeout=90,
                message="every job to run and the queue and unacked hash to empty",
            )
        finally:
            if replacement is not None:
                replacement.stop()

    runs = _runs(runs_file)
    lost = wanted - set(runs)
    duplicated = sum(1 for job_id in wanted if runs[job_id] > 1)
    print(
        f"Redis SIGKILL under a busy worker (300 jobs of 20 ms, killed at {killed_with} done): "
        f"{len(lost)} lost, {duplicated} ran twice, worker "
        f"{'crashed in kombu and was replaced' if crashed else 'reconnected by itself'}"
    )
    assert not lost
    client.close()
