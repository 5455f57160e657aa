"""Limits across real worker processes (prefork pools), and a SIGKILLed slot holder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.concurrency.apps.limits_app"


@pytest.fixture
def limits_app(aj_redis: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AJ_LIMITS_REDIS_URL", aj_redis.url)
    from tests.concurrency.apps import limits_app

    make_app(aj_redis.url)  # this process enqueues through an app on the same Redis
    limits_app.REDIS_URL = aj_redis.url
    limits_app._client = None
    return limits_app


def _worker(aj_redis: Any) -> Any:
    return run_worker_subprocess(
        APP, cwd=ROOT, env={"AJ_LIMITS_REDIS_URL": aj_redis.url}, queues=["limits"],
        pool="prefork", concurrency=3,
    )  # fmt: skip


def _count(aj_redis: Any, name: str) -> int:
    return int(aj_redis.client.get(name) or 0)


def test_two_worker_processes_never_run_more_than_two_of_a_key(
    aj_redis: Any, limits_app: Any, aj_quiet_logs: None
) -> None:
    for n in range(50):
        limits_app.AccountJob.perform_later("acme", n)
    for n in range(10):
        limits_app.AccountJob.perform_later(f"other-{n}", n)
    with _worker(aj_redis) as first, _worker(aj_redis) as second:
        first.wait_ready(timeout=60)
        second.wait_ready(timeout=60)
        wait_for(lambda: _count(aj_redis, "test:done:acme") == 50, timeout=120)
        wait_for(
            lambda: sum(_count(aj_redis, f"test:done:other-{n}") for n in range(10)) == 10,
            timeout=60,
        )
    assert 1 <= _count(aj_redis, "test:peak:acme") <= 2


def test_a_sigkilled_holders_slot_frees_after_duration_and_its_job_reruns(
    aj_redis: Any, limits_app: Any
) -> None:
    limits_app.HoldJob.perform_later("hold")
    limits_app.HoldJob.perform_later("next")

    def started() -> list[str]:
        return [item.decode() for item in aj_redis.client.lrange("test:started", 0, -1)]

    def finished() -> list[str]:
        return [item.decode() for item in aj_redis.client.lrange("test:finished", 0, -1)]

    first = _worker(aj_redis)
    with first:
        first.wait_ready(timeout=60)
        wait_for(lambda: started() == ["hold"], timeout=60)
        first.kill()  # the holder dies with its slot
    assert "next" not in started()  # it was blocked behind the holder
    second = _worker(aj_redis)
    with second:
        second.wait_ready(timeout=60)
        wait_for(lambda: sorted(finished()) == ["hold", "next"], timeout=90)
    assert started().count("hold") >= 2  # the killed run came back and ran again
