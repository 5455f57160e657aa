"""Take the screenshots of docs/dashboard.md: ``python -m tests.web.screenshots [out_dir]``.

Starts a private redis-server, fills it through the real APIs (jobs enqueued, failed by a real
worker, scheduled, recurring entries, a paused queue, an hour of counters), serves the
dashboard and photographs each page with headless Chromium.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from activejob_celery import ApplicationJob, queue_as, queue_with_priority, retry_on
from activejob_celery.dead_letters import store_for
from activejob_celery.recurring import load_recurring, sync
from activejob_celery.web import create_app, pause, setup as web_setup
from activejob_celery.worker import metrics
from tests.support.fixtures import make_app
from tests.support.redis_server import RedisServer
from tests.support.worker import run_worker, wait_for
from tests.web.conftest import BROWSER_ARGS, CHROMIUM
from tests.web.support import serve_in_thread

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"


class PaymentGatewayError(Exception):
    pass


PaymentGatewayError.__module__ = "shop.payments"  # as the error of a real app module reads


class GuestsCleanupJob(ApplicationJob):
    job_name = "shop.jobs.GuestsCleanupJob"
    queue_as("low_priority")
    queue_with_priority(5)

    def perform(self, guest_id: int, *, notify: bool = False) -> None: ...


class WelcomeEmailJob(ApplicationJob):
    job_name = "shop.jobs.WelcomeEmailJob"
    queue_as("mailers")

    def perform(self, user_id: int) -> None: ...


class ChargeCardJob(ApplicationJob):
    job_name = "shop.jobs.ChargeCardJob"
    queue_as("default")
    retry_on(PaymentGatewayError, wait=0, attempts=2, jitter=0)

    def perform(self, order_id: int, amount: str) -> None:
        raise PaymentGatewayError(f"card declined for order {order_id}: insufficient funds")


class ImportCsvJob(ApplicationJob):
    job_name = "shop.jobs.ImportCsvJob"

    def perform(self, path: str) -> None:
        raise KeyError("email")


def fill(app) -> None:
    random.seed(7)
    with run_worker(app, queues=["default", "mailers", "low_priority"]):
        for order in (1041, 1042, 1043):
            ChargeCardJob.perform_later(order, "49.90")
        ImportCsvJob.perform_later("imports/customers-2026-05.csv")
        wait_for(lambda: store_for(app).count() == 4, timeout=60)
        pause(app, "mailers")
    for user in range(7):
        WelcomeEmailJob.perform_later(100 + user)
    for guest in range(12):
        GuestsCleanupJob.set(priority=random.choice([0, 5, 5, 9])).perform_later(guest)
    for hours in (1, 3, 6, 26):
        GuestsCleanupJob.set(wait=timedelta(hours=hours)).perform_later(hours, notify=True)
    WelcomeEmailJob.set(wait=timedelta(minutes=15)).perform_later(7)
    entries = {
        "nightly_cleanup": {"class": "GuestsCleanupJob", "schedule": "every day at 2am",
                            "args": [0], "description": "Remove guests older than 30 days"},
        "welcome_digest": {"class": "WelcomeEmailJob", "schedule": "every monday at 9am",
                           "args": [1], "queue": "mailers"},
        "charge_retries": {"class": "ChargeCardJob", "schedule": "*/15 * * * *",
                           "args": [0, "0.00"]},
    }  # fmt: skip
    sync(app, load_recurring(entries))
    now = time.time()
    for minute in range(60):
        busy = 40 + 30 * abs((minute % 20) - 10) / 10 + random.randint(0, 15)
        for _ in range(int(busy)):
            metrics.record(app, failed=False, now=now - minute * 60)
        for _ in range(random.choice([0, 0, 0, 1, 2, 4]) if minute % 7 else 9):
            metrics.record(app, failed=True, now=now - minute * 60)
    metrics.flush()


def shoot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with RedisServer.start_private() as server:
        app = make_app(server.url(1), redbeat_redis_url=server.url(1))
        app.main = "shop"
        web_setup(app)
        fill(app)
        letters = store_for(app).list()
        charge = next(letter for letter in letters if letter.job_class.endswith("ChargeCardJob"))
        with serve_in_thread(create_app(app)) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 760})
            pages = {
                "overview": "/",
                "queues": "/queues",
                "scheduled": "/scheduled",
                "dead-letters": "/dead",
                "dead-letter": f"/dead/{charge.id}",
                "recurring": "/recurring",
                "job": f"/jobs/{charge.job_id}",
            }
            for name, path in pages.items():
                page.goto(base + path)
                page.screenshot(path=str(out / f"dashboard-{name}.png"), full_page=True)
            page.goto(base + "/dead?error_class=PaymentGatewayError")
            page.get_by_role("button", name="Retry all 3 matching…").click()
            page.locator("#confirm").wait_for()
            page.screenshot(path=str(out / "dashboard-confirm.png"), full_page=True)
            browser.close()
        app.close()


if __name__ == "__main__":
    shoot(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
