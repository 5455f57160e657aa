"""Timeouts and ``async def perform`` on real workers: solo, threads and prefork pools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from activejob_celery.dead_letters import store_for
from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.apps.timeouts_app"


@pytest.fixture
def timeouts_app(aj_redis, monkeypatch):
    monkeypatch.setenv("AJ_TIMEOUTS_REDIS_URL", aj_redis.url)
    from tests.integration.apps import timeouts_app

    # perform_later publishes through the app init_app saw last; a set(timeout=...) takes its
    # hard limit from the sending app's grace, as the worker's (1 s) here
    app = make_app(aj_redis.url, activejob_timeout_grace=1)
    yield timeouts_app, app
    app.close()


def _events(aj_redis, job: str | None = None) -> list[dict[str, Any]]:
    records = [json.loads(raw) for raw in aj_redis.client.lrange("to:events", 0, -1)]
    return [each for each in records if job is None or each["job"] == job]


def _whats(aj_redis, job: str) -> list[str]:
    return [each["what"] for each in _events(aj_redis, job)]


def _worker(aj_redis, pool: str, concurrency: int = 1, async_concurrency: int = 1):
    env = {"AJ_TIMEOUTS_REDIS_URL": aj_redis.url, "AJ_ASYNC_CONCURRENCY": str(async_concurrency)}
    return run_worker_subprocess(
        APP, cwd=ROOT, env=env, queues=["timeouts"], pool=pool, concurrency=concurrency,
    )  # fmt: skip


def _run_everything(aj_redis, module, pool: str, concurrency: int = 1) -> str:
    """Enqueue the timeout and async jobs, run a worker until all of them ended; its log."""
    module.LoopingTimeoutJob.perform_later()
    module.SleepingTimeoutJob.perform_later()
    for number in range(3):
        module.AsyncJob.perform_later(number)
    module.AsyncTimeoutJob.perform_later()
    module.AsyncFailingJob.perform_later()
    ended = {
        "LoopingTimeoutJob": "gave_up:JobTimeoutError",
        "SleepingTimeoutJob": "discarded:JobTimeoutError",
        "AsyncTimeoutJob": "discarded:JobTimeoutError",
        "AsyncFailingJob": "gave_up:Boom",
    }
    with _worker(aj_redis, pool, concurrency) as worker:
        worker.wait_ready(timeout=60)
        for job, last in ended.items():
            wait_for(
                lambda job=job, last=last: last in _whats(aj_redis, job),
                timeout=90,
                message=f"{job} {last}",
            )
        wait_for(lambda: len(_events(aj_redis, "AsyncJob")) == 3, timeout=60)
    return worker.log_text()


def _check(aj_redis, log: str, pool: str) -> None:
    assert _whats(aj_redis, "LoopingTimeoutJob") == ["start", "start", "gave_up:JobTimeoutError"]
    assert _whats(aj_redis, "SleepingTimeoutJob") == ["start", "discarded:JobTimeoutError"]
    assert _whats(aj_redis, "AsyncTimeoutJob") == ["start", "discarded:JobTimeoutError"]
    assert _whats(aj_redis, "AsyncFailingJob") == ["start", "start", "gave_up:Boom"]
    runs = _events(aj_redis, "AsyncJob")
    assert sorted(each["what"] for each in runs) == ["async:0", "async:1", "async:2"]
    loops: dict[str, set[int]] = {}
    for each in runs:
        loops.setdefault(each["where"], set()).add(each["loop"])
    assert all(len(ids) == 1 for ids in loops.values()), loops  # one loop kept per process/thread
    closed = [json.loads(raw) for raw in aj_redis.client.lrange("to:shutdown", 0, -1)]
    # Closed at (process) shutdown; a pool thread that ended first closed its loop then.
    assert all(all(each) for each in closed), closed
    assert closed or pool == "threads", closed
    [sleeping] = [each for each in _events(aj_redis, "SleepingTimeoutJob") if "alarm" in each]
    # SIGALRM on a process's main thread (solo, prefork children), a timer thread on threads
    assert ("_Alarm" in sleeping["alarm"]) == (pool != "threads"), sleeping
    if pool in ("solo", "threads"):
        assert f"Jobs with a timeout on the {pool} pool" in log
        assert "timeouts_app.LoopingTimeoutJob" in log


def test_timeouts_and_async_jobs_on_a_solo_worker(aj_redis, timeouts_app):
    module, _ = timeouts_app
    log = _run_everything(aj_redis, module, "solo")
    _check(aj_redis, log, "solo")


@pytest.mark.extended
def test_timeouts_and_async_jobs_on_a_threads_worker(aj_redis, timeouts_app):
    module, _ = timeouts_app
    log = _run_everything(aj_redis, module, "threads", concurrency=2)
    _check(aj_redis, log, "threads")
    assert "long C call" in log


@pytest.mark.extended
def test_timeouts_and_async_jobs_on_a_prefork_worker(aj_redis, timeouts_app):
    module, _ = timeouts_app
    log = _run_everything(aj_redis, module, "prefork")
    _check(aj_redis, log, "prefork")
    assert "Jobs with a timeout on the" not in log


def _named(aj_redis, name: str) -> list[str]:
    return [each["what"] for each in _events(aj_redis, "ChosenTimeoutJob") if each["name"] == name]


@pytest.mark.extended
@pytest.mark.parametrize("chosen", [False, True], ids=["class-timeout", "set-timeout"])
def test_a_job_that_swallows_its_timeout_is_killed_and_kept_as_a_killed_dead_letter(
    aj_redis, timeouts_app, chosen
):
    module, app = timeouts_app
    store = store_for(app)
    if chosen:  # no class timeout: the hard limit comes with the message (set(timeout=...))
        job = module.ChosenTimeoutJob.set(timeout=1).perform_later("stubborn", True)
    else:
        job = module.StubbornJob.perform_later()
    with _worker(aj_redis, "prefork") as worker:
        worker.wait_ready(timeout=60)
        wait_for(lambda: store.count() == 1, timeout=60, message="a killed dead letter")
    [letter] = store.list()
    assert (letter.reason, letter.job_id) == ("killed", job.job_id)
    assert letter.error_class.endswith("TimeLimitExceeded")
    seen = _named(aj_redis, "stubborn") if chosen else _whats(aj_redis, "StubbornJob")
    assert seen == ["start", "swallowed"]


def test_set_timeout_applies_to_that_enqueue_only_on_a_solo_worker(aj_redis, timeouts_app):
    module, _ = timeouts_app
    timed = module.ChosenTimeoutJob.set(timeout=1).perform_later("timed")
    module.ChosenTimeoutJob.perform_later("free")  # the class has no timeout: runs 2.5 s
    lists = aj_redis.client.keys("timeouts*")  # kombu's priority buckets of the queue
    raw = [json.loads(each) for key in lists for each in aj_redis.client.lrange(key, 0, -1)]
    limits = {each["headers"]["id"]: each["headers"]["timelimit"] for each in raw}
    assert limits[timed.provider_job_id] == [2.0, None]  # timeout + the app's 1 s grace
    assert [None, None] in limits.values()
    with _worker(aj_redis, "solo") as worker:
        worker.wait_ready(timeout=60)
        wait_for(lambda: "finished" in _named(aj_redis, "free"), timeout=60, message="free")
        wait_for(lambda: len(_named(aj_redis, "timed")) == 2, timeout=60, message="timed")
    assert _named(aj_redis, "timed") == ["start", "discarded:JobTimeoutError"]
    assert _named(aj_redis, "free") == ["start", "finished"]


@pytest.mark.extended
def test_a_solo_worker_with_async_concurrency_runs_async_jobs_at_once_on_one_loop(
    aj_redis, timeouts_app
):
    module, _ = timeouts_app
    for number in range(8):
        module.OverlappingJob.perform_later(number)
        module.SyncCountingJob.perform_later(number)
    with _worker(aj_redis, "solo", async_concurrency=4) as worker:
        worker.wait_ready(timeout=60)
        wait_for(lambda: len(_events(aj_redis, "OverlappingJob")) == 8, timeout=60)
        wait_for(lambda: len(_events(aj_redis, "SyncCountingJob")) == 8, timeout=60)
    assert 1 < int(aj_redis.client.get("to:peak")) <= 4
    assert int(aj_redis.client.get("to:sync_peak")) == 1  # sync jobs: one at a time, as solo
    assert len({each["loop"] for each in _events(aj_redis, "OverlappingJob")}) == 1
    assert "(thread)" in worker.log_text()  # Celery's banner: the pool threads take the jobs
