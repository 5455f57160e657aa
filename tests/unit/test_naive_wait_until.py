"""A naive ``wait_until`` is read in the app's time zone (Celery's ``timezone``/``enable_utc``).

DESIGN.md §8 "The seeds as written": ``Date.tomorrow.noon`` reads as a naive ``datetime`` in
Python; it means noon where the app runs, as Celery's own ``timezone`` setting says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from celery import Celery

from activejob_celery import ApplicationJob
from activejob_celery.adapters.celery import CeleryAdapter
from activejob_celery.testing import TestAdapter
from tests.support.fixtures import make_app

UNUSED_BROKER = "redis://127.0.0.1:9/0"
"""Nothing here publishes: the apps only carry a time zone."""


class NoonJob(ApplicationJob):
    def perform(self) -> Any:
        return self.scheduled_at


@pytest.fixture
def new_york_app() -> Iterator[Celery]:
    app = make_app(UNUSED_BROKER, timezone="America/New_York", activejob_queue_adapter="test")
    yield app
    app.close()


def test_naive_wait_until_is_read_in_the_initialised_apps_zone(
    aj_adapter: TestAdapter, new_york_app: Celery
) -> None:
    """The test adapter has no app of its own: the app ``init_app`` set up decides."""
    winter = NoonJob.set(wait_until=datetime(2030, 1, 1, 12, 0)).perform_later()
    summer = NoonJob.set(wait_until=datetime(2030, 7, 1, 12, 0)).perform_later()
    assert winter.scheduled_at == datetime(2030, 1, 1, 17, 0, tzinfo=timezone.utc)
    assert summer.scheduled_at == datetime(2030, 7, 1, 16, 0, tzinfo=timezone.utc)
    assert [record["scheduled_at"] for record in aj_adapter.enqueued_jobs] == [
        "2030-01-01T17:00:00.000000Z",
        "2030-07-01T16:00:00.000000Z",
    ]


def test_an_aware_wait_until_keeps_its_own_offset(
    aj_adapter: TestAdapter, new_york_app: Celery
) -> None:
    tokyo = timezone(timedelta(hours=9))
    job = NoonJob.set(wait_until=datetime(2030, 1, 1, 12, 0, tzinfo=tokyo)).perform_later()
    assert job.scheduled_at == datetime(2030, 1, 1, 3, 0, tzinfo=timezone.utc)


def test_the_jobs_own_celery_adapter_decides_the_zone(new_york_app: Celery) -> None:
    """A job publishing through another app's adapter reads naive times in that app's zone."""
    tokyo_app = Celery("aj_tokyo", broker=UNUSED_BROKER, set_as_current=False)
    tokyo_app.conf.timezone = "Asia/Tokyo"

    class TokyoJob(NoonJob):
        queue_adapter = CeleryAdapter(tokyo_app)

    scheduled = TokyoJob.set(wait_until=datetime(2030, 1, 1, 12, 0)).perform_now()
    assert scheduled == datetime(2030, 1, 1, 3, 0, tzinfo=timezone.utc)


def test_enable_utc_without_a_timezone_reads_naive_times_as_utc(aj_adapter: TestAdapter) -> None:
    app = make_app(UNUSED_BROKER, enable_utc=True, timezone=None, activejob_queue_adapter="test")
    try:
        job = NoonJob.set(wait_until=datetime(2030, 1, 1, 12, 0)).perform_later()
    finally:
        app.close()
    assert job.scheduled_at == datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_retry_job_reads_a_naive_wait_until_in_the_apps_zone(
    aj_adapter: TestAdapter, new_york_app: Celery
) -> None:
    job = NoonJob()
    job.retry_job(wait_until=datetime(2030, 1, 1, 12, 0))
    assert aj_adapter.enqueued_jobs[-1]["scheduled_at"] == "2030-01-01T17:00:00.000000Z"
