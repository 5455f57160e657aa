"""Delayed bulk enqueue: each 1 000 entries and their statuses go as one MULTI/EXEC packed by hand.

The packed path must leave exactly what redis-py's pipeline leaves (the same sorted set,
entries and statuses), load the script again after Redis lost it, and make one transaction per
chunk of entries.
"""

from __future__ import annotations

from typing import Any

import pytest

from activejob_celery import ApplicationJob, job_status, perform_all_later, queue_as
from activejob_celery.scheduler import scheduled_set_for, store as scheduled_store
from tests.support.fixtures import make_app

QUEUE = "packed_later"


class LaterJob(ApplicationJob):
    queue_as(QUEUE)

    def perform(self, number: int) -> None: ...


def _calls(client: Any, name: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))


def _written(aj_redis: Any, app: Any, jobs: list[ApplicationJob]) -> list[Any]:
    """What the scheduled set holds for ``jobs``, with their ids and times taken out."""
    scheduled = scheduled_set_for(app)
    client = aj_redis.client
    found = []
    for job in jobs:
        member = f"{job.job_id}/{job.provider_job_id}"
        score = client.zscore(scheduled.key, member)
        entry = client.hget(scheduled.entries_key, member)
        status = job_status(job.job_id, app=app)
        assert score is not None and entry is not None and status is not None, member
        assert abs(score - job.scheduled_at.timestamp()) < 1e-3
        assert abs(status["run_at"] - job.scheduled_at.timestamp()) < 1e-3
        kept = {name: value for name, value in status.items() if "_at" not in name}
        found.append((job.provider_job_id.encode() in entry, kept))
    return found


@pytest.mark.parametrize("count", [3, 1500])
def test_the_packed_path_writes_what_the_pipeline_writes(
    aj_redis: Any, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    app = make_app(aj_redis.url)
    perform_all_later([LaterJob(-1).set(wait=60) for _ in range(3)])  # templates proven
    packed = [LaterJob(number).set(wait=60 + number) for number in range(count)]
    execs = _calls(aj_redis.client, "exec")
    perform_all_later(packed)
    assert _calls(aj_redis.client, "exec") - execs == (count + 999) // 1000  # one per chunk
    monkeypatch.setattr(scheduled_store, "usable", lambda client: False)
    piped = [LaterJob(number).set(wait=60 + number) for number in range(count)]
    perform_all_later(piped)
    assert all(job.successfully_enqueued for job in packed + piped)
    assert _written(aj_redis, app, packed) == _written(aj_redis, app, piped)
    first = _written(aj_redis, app, packed)[0]
    assert first[0] and first[1]["status"] == "scheduled" and first[1]["queue"] == QUEUE
    assert scheduled_set_for(app).count() == 2 * count + 3
    app.close()


@pytest.mark.parametrize("lose_scripts", ["SCRIPT FLUSH", "restart"])
def test_after_redis_lost_its_scripts_the_entries_are_still_written(
    aj_redis: Any, lose_scripts: str
) -> None:
    app = make_app(aj_redis.url)
    perform_all_later([LaterJob(0).set(wait=60), LaterJob(1).set(wait=60)])  # script loaded
    if lose_scripts == "restart":
        aj_redis.server.restart()
    else:
        aj_redis.client.script_flush()
    jobs = [LaterJob(number).set(wait=60) for number in range(2, 5)]
    perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)
    assert [each[1]["status"] for each in _written(aj_redis, app, jobs)] == ["scheduled"] * 3
    app.close()
