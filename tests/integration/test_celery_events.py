"""Jobs seen through Celery's own tools: task events (Flower's state) and the worker's log.

A real ``celery worker`` subprocess with task events on, a real Redis broker, and Celery's own
``app.events.Receiver`` feeding ``celery.events.state.State``, the state Flower shows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import states
from celery.events.state import State

from activejob_celery.dead_letters import store_for
from tests.support.fixtures import make_app
from tests.support.worker import run_worker_subprocess, wait_for

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.integration.apps.events_app"


@pytest.fixture
def events_app(aj_redis: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The user-style app module (imported once: its own ``app`` may be on another test's
    database); ``events_app.here`` is an app on this test's database, and jobs are enqueued
    through it (the app ``init_app`` saw last)."""
    monkeypatch.setenv("AJ_EVENTS_REDIS_URL", aj_redis.url)
    from tests.integration.apps import events_app

    here = make_app(aj_redis.url)
    monkeypatch.setattr(events_app, "here", here, raising=False)
    yield events_app
    here.close()


class Flower:
    """Celery's event state fed by a receiver thread; ``seen`` is (uuid, state) after each event."""

    def __init__(self, app: Any) -> None:
        self.state = State()
        self.seen: list[tuple[str, str]] = []
        self.connection = app.connection_for_read()
        self.receiver = app.events.Receiver(self.connection, handlers={"*": self.on_event})
        self.thread = threading.Thread(target=self._capture, daemon=True)

    def on_event(self, event: dict[str, Any]) -> None:
        self.state.event(event)
        if event["type"].startswith("task-"):
            self.seen.append((event["uuid"], self.state.tasks[event["uuid"]].state))

    def _capture(self) -> None:
        self.receiver.capture(limit=None, timeout=None, wakeup=False)

    def states_of(self, uuid: str) -> list[str]:
        """The task's state after each of its events, repeats folded."""
        folded: list[str] = []
        for seen_uuid, state in list(self.seen):
            if seen_uuid == uuid and (not folded or folded[-1] != state):
                folded.append(state)
        return folded


@pytest.fixture
def flower(events_app: Any, aj_redis: Any) -> Iterator[Flower]:
    watcher = Flower(events_app.here)
    watcher.thread.start()
    # Events travel by Redis pub/sub: only a subscribed receiver gets them.
    wait_for(
        lambda: aj_redis.client.pubsub_numpat() or aj_redis.client.pubsub_channels("*celeryev*"),
        timeout=20,
        message="the event receiver to subscribe",
    )
    yield watcher
    watcher.receiver.should_stop = True
    watcher.thread.join(10)
    watcher.connection.release()


def _worker(aj_redis: Any, pool: str = "solo") -> Any:
    return run_worker_subprocess(
        APP, cwd=ROOT, env={"AJ_EVENTS_REDIS_URL": aj_redis.url}, pool=pool, extra_args=["-E"]
    )


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_flowers_state_shows_a_retried_job_as_retry_then_success_under_one_task_id(
    aj_redis: Any, events_app: Any, flower: Flower, pool: str
) -> None:
    job = events_app.FlakyEventsJob.perform_later()
    with _worker(aj_redis, pool) as worker:
        worker.wait_ready(timeout=30)
        wait_for(
            lambda: states.SUCCESS in flower.states_of(job.provider_job_id),
            timeout=40,
            message="the job's task to reach SUCCESS",
        )
    got = flower.states_of(job.provider_job_id)
    assert states.RETRY in got
    assert got.index(states.RETRY) < got.index(states.SUCCESS)
    assert got[-1] == states.SUCCESS
    assert flower.state.tasks[job.provider_job_id].retries is not None
    # One task for the job in Flower's list, not one per run.
    named = [t.uuid for t in flower.state.tasks.values() if t.name == job.job_name]
    assert named == [job.provider_job_id]
    assert store_for(events_app.here).count() == 0


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_one_failing_job_logs_one_traceback_and_rails_lines(
    aj_redis: Any, events_app: Any, pool: str
) -> None:
    job = events_app.BrokenJob.perform_later(42)
    store = store_for(events_app.here)
    with _worker(aj_redis, pool) as worker:
        worker.wait_ready(timeout=30)
        wait_for(lambda: store.count() == 1, timeout=30, message="the dead letter")
        wait_for(lambda: "raised unexpected" in worker.log_text(), timeout=30)
        log = worker.log_text()
    assert log.count("Traceback (most recent call last)") == 1
    assert f"Error performing BrokenJob (Job ID: {job.job_id})" in log
    assert "ValueError (order 42 is broken):\nTraceback (most recent call last)" in log
    # Celery's failure line stays (its text and level), without a second copy of the traceback.
    [celery_line] = [line for line in log.splitlines() if "raised unexpected" in line]
    assert "ERROR" in celery_line and job.provider_job_id in celery_line
    assert "ValueError('order 42 is broken')" in celery_line
    # Nothing is hidden: the dead letter keeps the full traceback.
    [letter] = store.list()
    assert "Traceback (most recent call last)" in letter.traceback
    assert 'raise ValueError(f"order {order_id} is broken")' in letter.traceback


def test_an_unknown_task_kept_as_a_dead_letter_is_not_said_to_be_discarded(
    aj_redis: Any, events_app: Any
) -> None:
    task_id = events_app.here.send_task(
        "billing.jobs.GoneJob", args=({"job_class": "billing.jobs.GoneJob"},), queue="default"
    ).id
    store = store_for(events_app.here)
    with _worker(aj_redis) as worker:
        worker.wait_ready(timeout=30)
        wait_for(lambda: store.count() == 1, timeout=30, message="the dead letter")
        wait_for(lambda: "Received unregistered task" in worker.log_text(), timeout=30)
        log = worker.log_text()
    [letter] = store.list()
    assert letter.reason == "unknown_job_class" and letter.id == task_id
    assert "ignored and discarded" not in log
    assert f"The message was kept as dead letter {task_id} (reason unknown_job_class)" in log
    assert "Received unregistered task of type 'billing.jobs.GoneJob'" in log
    assert "Traceback" not in log
