"""The dashboard's Concurrency page: holders, blocked jobs, the release button (CSRF-checked)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from starlette.testclient import TestClient

from activejob_celery import ApplicationJob, limits_concurrency
from activejob_celery.concurrency import store_for_app
from activejob_celery.web import create_app
from tests.web.conftest import LOCAL, LOCAL_URL
from tests.web.support import csrf_of

XSS = "<script>alert('x')</script>"


@pytest.fixture
def client(aj_app: Celery) -> Iterator[TestClient]:
    with TestClient(create_app(aj_app), base_url=LOCAL_URL, client=LOCAL) as test_client:
        yield test_client


def test_the_page_shows_holders_and_blocked_jobs_and_releases_a_stuck_slot(
    aj_app: Celery, client: TestClient
) -> None:
    class PageJob(ApplicationJob):
        limits_concurrency(to=1, key=lambda name: name)

        def perform(self, name: str) -> None: ...

    holder = PageJob.perform_later(XSS)
    waiting = PageJob.set(priority=4).perform_later(XSS)
    assert holder and waiting
    page = client.get("/blocked")
    assert page.status_code == 200
    assert holder.job_id in page.text and waiting.job_id in page.text
    assert "priority 4" in page.text and "Release slot" in page.text
    assert XSS not in page.text and "&lt;script&gt;alert" in page.text  # keys are shown as text
    key = f"{PageJob.job_name}/{XSS}"

    refused = client.post(
        "/blocked/release", data={"key": key, "job_id": holder.job_id}, follow_redirects=False
    )
    assert refused.status_code == 403  # no CSRF token

    token = csrf_of(page.text)
    done = client.post(
        "/blocked/release",
        data={"csrf_token": token, "key": key, "job_id": holder.job_id},
        follow_redirects=False,
    )
    assert done.status_code in (302, 303)
    assert "1 blocked job(s) published" in html.unescape(client.get(done.headers["location"]).text)
    store = store_for_app(aj_app)
    assert store is not None
    (state,) = store.keys_in_use()
    assert [job_id for job_id, _ in state.holders] == [waiting.job_id] and state.blocked == []


def test_the_page_is_linked_and_empty(client: TestClient, aj_app: Any) -> None:
    page = client.get("/blocked").text
    assert "No concurrency key holds a slot" in page
    assert 'href="/blocked"' in client.get("/").text or "/blocked" in client.get("/").text
