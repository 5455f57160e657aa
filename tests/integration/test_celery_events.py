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
def events_app(aj_redis: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The user-style app module; jobs are enqueued through an app on this test's database."""
    monkeypatch.setenv("AJ_EVENTS_REDIS_URL", aj_redis.url)
    from tests.integration.apps import events_app

    make_app(aj_redis.url)  # perform_later publishes through the app init_app saw last
    return events_app


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
    watcher = Flower(events_app.app)
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


def _worker(aj_redis: Any) -> Any:
    return run_worker_subprocess(
        APP, cwd=ROOT, env={"AJ_EVENTS_REDIS_URL": aj_redis.url}, extra_args=["-E"]
    )


def test_flowers_state_shows_a_retried_job_as_retry_then_success_under_one_task_id(
    aj_redis: Any, events_app: Any, flower: Flower
) -> None:
    job = events_app.FlakyEventsJob.perform_later()
    with _worker(aj_redis) as worker:
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
    assert store_for(events_app.app).count() == 0
