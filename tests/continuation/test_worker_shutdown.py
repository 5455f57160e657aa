"""A warm shutdown interrupts a continuable job at its next checkpoint; a new worker resumes it.

Real ``celery worker`` subprocesses (solo; prefork, whose child gets no signal; threads with
``celery control shutdown``, which sends none): the shutdown comes in the middle of 1 000
items, the first worker exits without finishing them, the second resumes from the cursor, and
every item is processed exactly once.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.continuation.apps.cont_app"
TOTAL = 1000


@pytest.fixture
def cont_app(aj_redis, monkeypatch):
    monkeypatch.setenv("AJ_CONT_REDIS_URL", aj_redis.url)
    from tests.continuation.apps import cont_app

    cont_app._client = aj_redis.client  # this process's enqueues and checks use the test db
    app = make_app(aj_redis.url)
    yield cont_app, app
    app.close()


def _worker(aj_redis, pool: str, concurrency: int):
    return run_worker_subprocess(
        APP,
        cwd=ROOT,
        env={"AJ_CONT_REDIS_URL": aj_redis.url},
        queues=["cont"],
        pool=pool,
        concurrency=concurrency,
        stop_timeout=60,
    )


def _done(aj_redis) -> int:
    return int(aj_redis.client.hlen("cont:items"))


@pytest.mark.extended
@pytest.mark.parametrize(
    ("pool", "concurrency", "how"),
    [("solo", 1, "SIGTERM"), ("prefork", 2, "SIGTERM"), ("threads", 2, "control shutdown")],
)
def test_a_warm_shutdown_mid_run_resumes_on_a_new_worker_exactly_once(
    aj_redis, cont_app, pool, concurrency, how
):
    module, app = cont_app
    job = module.ItemsJob.perform_later(TOTAL, 0.01)
    assert job.successfully_enqueued

    first = _worker(aj_redis, pool, concurrency)
    with first:
        first.wait_ready(timeout=60)
        wait_for(lambda: _done(aj_redis) >= 100, timeout=120)
        if how == "SIGTERM":
            first.send_signal(signal.SIGTERM)  # the main process only: prefork children get none
        else:
            app.control.shutdown()  # a remote command: no signal at all
        wait_for(lambda: first.returncode is not None, timeout=60, message="the worker to exit")
        log = first.log_text()
    done_at_exit = _done(aj_redis)
    assert done_at_exit < TOTAL, f"the job finished before the worker stopped:\n{log[-3000:]}"
    assert "Interrupted ItemsJob" in log and "(stopping)" in log, log[-3000:]
    assert aj_redis.client.llen("cont:finished") == 0

    second = _worker(aj_redis, pool, concurrency)
    with second:
        second.wait_ready(timeout=60)
        wait_for(lambda: aj_redis.client.llen("cont:finished") == 1, timeout=180)
        time.sleep(0.5)  # a duplicate run, were there one, would show up here
        resumed_log = second.log_text()

    counts = {int(k): int(v) for k, v in aj_redis.client.hgetall("cont:items").items()}
    assert sorted(counts) == list(range(TOTAL))
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    starts = [s.decode().split(":") for s in aj_redis.client.lrange("cont:starts", 0, -1)]
    assert [int(s[0]) for s in starts] == [0, done_at_exit]  # resumed at the cursor
    assert [int(s[1]) for s in starts] == [0, 1]  # resumptions
    assert aj_redis.client.llen("cont:prepared") == 1  # a completed step is skipped
    assert aj_redis.client.lrange("cont:finished", 0, -1) == [b"1"]
    assert f"resumed from cursor '{done_at_exit}'" in resumed_log
