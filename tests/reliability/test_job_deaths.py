"""Jobs that die with their worker: hard time limits, lost child processes, interruption limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activejob_celery import JobInterruptedError, job_status
from activejob_celery.dead_letters import store_for
from activejob_celery.rescue import exception_key
from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.apps.deaths_app"
INTERRUPTED = exception_key((JobInterruptedError,))

pytestmark = pytest.mark.reliability


@pytest.fixture
def deaths(aj_redis, monkeypatch):
    monkeypatch.setenv("AJ_DEATHS_REDIS_URL", aj_redis.url)
    from tests.reliability.apps import deaths_app

    app = make_app(aj_redis.url)
    yield deaths_app, store_for(app)
    app.close()


def _worker(aj_redis):
    return run_worker_subprocess(
        APP, cwd=ROOT, env={"AJ_DEATHS_REDIS_URL": aj_redis.url}, queues=["deaths"],
        pool="prefork", concurrency=1,
    )  # fmt: skip


def _runs(aj_redis, job_id=None):
    records = [json.loads(raw) for raw in aj_redis.client.lrange("deaths:runs", 0, -1)]
    return [record for record in records if job_id is None or record["job_id"] == job_id]


def _settle(aj_redis, deaths_app):
    marker = deaths_app.MarkerJob.perform_later()
    wait_for(lambda: _runs(aj_redis, marker.job_id), timeout=30, message="the marker job")


def test_a_hard_time_limit_makes_a_killed_dead_letter_at_once(aj_redis, deaths):
    deaths_app, store = deaths
    job = deaths_app.HangJob.perform_later()
    with _worker(aj_redis) as worker:
        worker.wait_ready(timeout=30)
        wait_for(lambda: store.count() == 1, timeout=30, message="a dead letter")
        _settle(aj_redis, deaths_app)
    [letter] = store.list()
    assert (letter.reason, letter.job_id) == ("killed", job.job_id)
    assert letter.job_class == "deaths.HangJob"
    assert letter.error_class.endswith("TimeLimitExceeded")
    assert letter.payload["job_id"] == job.job_id  # kept whole: it can be retried
    assert [run["what"] for run in _runs(aj_redis, job.job_id)] == ["started"]
    assert job_status(job.job_id)["status"] == "dead"  # not left "running"


def test_a_run_after_a_lost_child_starts_with_job_interrupted_error(aj_redis, deaths):
    deaths_app, store = deaths
    job = deaths_app.KillOnceJob.perform_later()
    with _worker(aj_redis) as worker:
        worker.wait_ready(timeout=30)
        wait_for(
            lambda: [run for run in _runs(aj_redis, job.job_id) if run["what"] == "finished"],
            timeout=60,
            message="the job to finish after its retry",
        )
        log = worker.log_text()
    runs = _runs(aj_redis, job.job_id)
    assert [run["what"] for run in runs] == ["killing", "finished"]
    # The redelivered run raised JobInterruptedError and retry_on retried it (counted once).
    assert runs[-1]["exception_executions"] == {INTERRUPTED: 1}
    warnings = [
        line for line in log.splitlines()
        if "WARNING" in line and "delivered again" in line and job.job_id in line
    ]  # fmt: skip
    assert warnings, log[-3000:]
    assert "deaths.KillOnceJob" in warnings[0] and job.provider_job_id in warnings[0]
    assert store.count() == 0


@pytest.mark.extended
def test_a_job_that_kills_its_process_every_time_is_killed_after_three_interruptions(
    aj_redis, deaths
):
    deaths_app, store = deaths
    job = deaths_app.SelfKillJob.perform_later()
    with _worker(aj_redis) as worker:
        worker.wait_ready(timeout=30)
        wait_for(lambda: store.count() == 1, timeout=90, message="a killed dead letter")
        _settle(aj_redis, deaths_app)
    [letter] = store.list()
    assert (letter.reason, letter.job_id) == ("killed", job.job_id)
    assert letter.error_class.endswith("JobInterruptedError")
    assert "3 of at most 3" in letter.error_message
    assert [run["what"] for run in _runs(aj_redis, job.job_id)] == ["killing"] * 3
