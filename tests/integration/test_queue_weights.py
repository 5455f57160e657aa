"""Weighted and strict queue order with a real `celery worker` (issue 21)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from activejob_celery import perform_all_later
from tests.support.broker_lists import queue_length
from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.apps.weights_app"

pytestmark = pytest.mark.slow


@pytest.fixture
def weights_app(aj_redis, monkeypatch):
    """The user-style app module; jobs are enqueued through an app on this test's database."""
    monkeypatch.setenv("AJ_WEIGHTS_REDIS_URL", aj_redis.url)
    from tests.integration.apps import weights_app

    make_app(aj_redis.url)  # perform_later publishes through the app init_app saw last
    return weights_app


def worker(aj_redis, *extra: str, conf: dict[str, object] | None = None):
    env = {"AJ_WEIGHTS_REDIS_URL": aj_redis.url, "AJ_WEIGHTS_CONF": json.dumps(conf or {})}
    return run_worker_subprocess(
        APP, cwd=ROOT, env=env, queues=["critical", "default", "low"], extra_args=extra
    )


def ran(aj_redis) -> list[str]:
    return [value.decode() for value in aj_redis.client.lrange("weights:ran", 0, -1)]


def test_weights_6_2_1_share_the_first_900_jobs_as_67_22_11(aj_redis, weights_app):
    for job_class in (weights_app.LowJob, weights_app.DefaultJob, weights_app.CriticalJob):
        perform_all_later([job_class() for _ in range(1000)])
    assert [queue_length(aj_redis.client, q) for q in ("critical", "default", "low")] == [1000] * 3

    with worker(aj_redis, "--queue-weights", "critical=6,default=2,low=1") as process:
        process.wait_ready(timeout=60)
        wait_for(lambda: len(ran(aj_redis)) >= 900, timeout=300)
        log = process.log_text()
    shares = Counter(entry.split(":")[0] for entry in ran(aj_redis)[:900])
    percent = {queue: 100 * shares[queue] / 900 for queue in ("critical", "default", "low")}
    print("shares of the first 900 jobs (%):", percent)  # shown with pytest -s
    assert percent["critical"] == pytest.approx(100 * 6 / 9, abs=5), percent
    assert percent["default"] == pytest.approx(100 * 2 / 9, abs=5), percent
    assert percent["low"] == pytest.approx(100 * 1 / 9, abs=5), percent
    assert "Queue order (--queue-weights): weighted: critical=6, default=2, low=1" in log


@pytest.mark.parametrize("reliable_fetch", [True, False])
def test_strict_order_runs_no_low_job_while_critical_has_any(aj_redis, weights_app, reliable_fetch):
    # Queued least urgent first, so neither FIFO nor round robin would give this order; the
    # low jobs' priority -10 (the most urgent bucket) must not jump the queue order either.
    perform_all_later([weights_app.LowJob().set(priority=-10) for _ in range(40)])
    perform_all_later([weights_app.DefaultJob() for _ in range(40)])
    perform_all_later([weights_app.CriticalJob().set(priority=5) for _ in range(60)])
    perform_all_later([weights_app.CriticalJob().set(priority=0) for _ in range(60)])
    conf = {"activejob_queue_order": "strict", "activejob_reliable_fetch": reliable_fetch}
    with worker(aj_redis, conf=conf) as process:
        process.wait_ready(timeout=60)
        wait_for(lambda: len(ran(aj_redis)) >= 200, timeout=300)
        log = process.log_text()
    order = ran(aj_redis)
    expected = ["critical:0"] * 60 + ["critical:5"] * 60 + ["default:None"] * 40
    expected += ["low:-10"] * 40
    assert order == expected
    assert "Queue order (activejob_queue_order): strict: critical, default, low" in log


@pytest.mark.parametrize(("multiplier", "reserved"), [(4, 1), (3, 3)])
def test_a_weighted_worker_reserves_one_message_unless_another_prefetch_is_set(
    aj_redis, weights_app, multiplier, reserved
):
    probe = make_app(aj_redis.url)
    conf = {"worker_prefetch_multiplier": multiplier}  # 4: Celery's default
    with worker(aj_redis, "--queue-weights", "critical=6,default=2,low=1", conf=conf) as process:
        process.wait_ready(timeout=60)
        stats = wait_for(lambda: probe.control.inspect(timeout=2).stats(), timeout=60)
        log = process.log_text()
    [found] = stats.values()
    assert found["prefetch_count"] == reserved  # a solo worker: one process
    assert ("one message reserved per process" in log) == (multiplier == 4)


def test_a_weighted_queue_outside_q_stops_the_worker_with_a_clear_error(aj_redis, weights_app):
    process = run_worker_subprocess(
        APP,
        cwd=ROOT,
        env={"AJ_WEIGHTS_REDIS_URL": aj_redis.url},
        queues=["critical"],
        extra_args=["--queue-weights", "critical=6,low=1"],
    )
    with process:
        wait_for(lambda: process.returncode is not None, timeout=60)
        log = process.log_text()
    assert process.returncode != 0
    assert "names queue 'low', which this worker does not consume (-Q critical)" in log
