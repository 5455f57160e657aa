"""Fixtures of the dashboard tests: an app with dead letters, RedBeat and counters; a client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from starlette.testclient import TestClient

from activejob_celery import web, worker
from activejob_celery.web import create_app
from tests.support.fixtures import make_app
from tests.support.requirements import chromium_path, skip_or_fail

LOCAL = ("127.0.0.1", 50123)
LOCAL_URL = "http://localhost"


@pytest.fixture
def aj_web_app(aj_redis: Any) -> Iterator[Celery]:
    """A Celery app on the test's Redis with RedBeat there too, and the worker-side wiring."""
    app = make_app(aj_redis.url, redbeat_redis_url=aj_redis.url)
    web.setup(app)
    yield app
    worker.state.forget(app)
    app.close()


@pytest.fixture
def aj_web_client(aj_web_app: Celery) -> Iterator[TestClient]:
    """A TestClient on the dashboard, calling from a loopback address (no credentials needed)."""
    with TestClient(create_app(aj_web_app), base_url=LOCAL_URL, client=LOCAL) as client:
        yield client


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM = "/usr/bin/chromium"  # screenshots.py; the fixture looks on PATH


@pytest.fixture(scope="module")
def aj_browser() -> Iterator[Any]:
    """Headless Debian Chromium (``chromium`` on PATH) driven by Playwright.

    Never ``playwright install``: without Chromium the tests skip (fail under ``CI=true``).

    Module-scoped: Playwright's sync API keeps an event loop on this thread while it runs.
    """
    from playwright.sync_api import sync_playwright

    chromium = chromium_path() or skip_or_fail("no chromium on PATH (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def aj_page(aj_browser: Any) -> Iterator[Any]:
    """A fresh browser context and page; a dialog (an injected script running) fails the test."""
    context = aj_browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert dialogs == [], f"a script ran in the dashboard: {dialogs}"


@pytest.fixture
def aj_dashboard(aj_web_app: Celery) -> Iterator[str]:
    """The dashboard of ``aj_web_app`` served by uvicorn in a thread; yields its base URL."""
    from tests.web.support import serve_in_thread

    with serve_in_thread(create_app(aj_web_app)) as base_url:
        yield base_url
