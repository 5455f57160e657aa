"""End to end in headless Chromium: the dashboard served by uvicorn, a real worker, real Redis."""

from __future__ import annotations

from playwright.sync_api import expect

from activejob_celery.dead_letters import store_for
from activejob_celery.recurring import load_recurring, recurring_tasks, sync
from tests.support.worker import run_worker, wait_for
from tests.web.jobs import WebFlakyJob, WebNightlyJob, WebOtherQueueJob, WebPausedQueueJob, ran


def test_a_failed_job_is_retried_from_the_dead_letters(aj_web_app, aj_redis, aj_dashboard, aj_page):
    url, page = aj_redis.url, aj_page
    aj_redis.client.set("flaky:fail", "1")
    with run_worker(aj_web_app):
        job = WebFlakyJob.perform_later(url, "flaky")
        wait_for(lambda: store_for(aj_web_app).list(), timeout=30, message="the dead letter")
        page.goto(aj_dashboard + "/dead")
        row = page.locator(f'tr[data-job-id="{job.job_id}"]')
        expect(row).to_contain_text("RuntimeError")
        expect(row).to_contain_text("boom <script>alert('xss')</script>")  # shown as text
        expect(row).to_contain_text("unhandled")

        row.get_by_role("link", name="WebFlakyJob").click()
        expect(page.locator("#traceback")).to_contain_text("RuntimeError: boom <script>")
        expect(page.locator("#payload")).to_contain_text(job.job_id)

        aj_redis.client.delete("flaky:fail")
        page.get_by_role("button", name="Retry…").click()
        expect(page.locator("#question")).to_contain_text("Retry this dead letter: 1 job?")
        assert ran(url, "flaky") == []  # asking is not doing
        page.locator("#confirm").click()
        expect(page.locator(".notice")).to_have_text("Retried 1 dead letter.")
        wait_for(lambda: ran(url, "flaky") == ["ran"], timeout=30, message="the retried job")
    page.reload()
    expect(page.locator("#dead-letters")).to_contain_text("No dead letters.")


def test_pausing_a_queue_stops_its_jobs_until_resumed(aj_web_app, aj_redis, aj_dashboard, aj_page):
    url, page = aj_redis.url, aj_page
    with run_worker(aj_web_app, queues=["web_paused", "web_other"]) as worker:
        page.goto(aj_dashboard + "/queues")
        row = page.locator('tr[data-queue="web_paused"]')
        expect(row.locator(".status")).to_have_text("Consuming")
        row.get_by_role("button", name="Pause").click()
        expect(page.locator(".notice")).to_have_text(f"Paused web_paused ({worker.hostname}).")
        expect(row.locator(".status")).to_contain_text("Paused")
        expect(row).to_have_class("paused")

        # Jobs on another queue run, which shows the worker fetched again after the pause.
        WebOtherQueueJob.perform_later(url, "other", "first")
        wait_for(lambda: ran(url, "other") == ["first"], timeout=20)
        WebPausedQueueJob.perform_later(url, "paused", "waited")
        WebOtherQueueJob.perform_later(url, "other", "second")
        wait_for(lambda: ran(url, "other") == ["first", "second"], timeout=20)
        assert ran(url, "paused") == []
        page.reload()
        expect(row.locator("td.depth")).to_have_text("1")

        row.get_by_role("button", name="Resume").click()
        expect(page.locator(".notice")).to_have_text(f"Resumed web_paused ({worker.hostname}).")
        expect(row.locator(".status")).to_have_text("Consuming")
        wait_for(lambda: ran(url, "paused") == ["waited"], timeout=20, message="the paused job")
    page.reload()
    expect(row.locator("td.depth")).to_have_text("0")


def test_the_recurring_page_shows_the_next_run(aj_web_app, aj_redis, aj_dashboard, aj_page):
    url, page = aj_redis.url, aj_page
    entry = {
        "class": WebNightlyJob.job_name,
        "schedule": "every day at 2am",
        "args": [url, "nightly"],
        "description": "Clean up <b>old</b> sessions",
    }
    sync(aj_web_app, load_recurring({"nightly": entry}))
    [state] = recurring_tasks(aj_web_app)
    page.goto(aj_dashboard + "/recurring")
    row = page.locator('tr[data-key="nightly"]')
    next_run = state.next_run_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert next_run.endswith("02:00:00 UTC")
    expect(row.locator(".next-run")).to_contain_text(next_run)
    expect(row).to_contain_text("Clean up <b>old</b> sessions")
    expect(row).to_contain_text("every day at 2am")

    with run_worker(aj_web_app):
        row.get_by_role("button", name="Run now").click()
        expect(page.locator(".notice")).to_contain_text("Enqueued nightly")
        wait_for(lambda: ran(url, "nightly") == ["nightly"], timeout=20, message="run now")

    row.get_by_role("button", name="Disable").click()
    expect(row.locator(".status")).to_have_text("Disabled")
    expect(row.locator(".next-run")).to_have_text("disabled")
    row.get_by_role("button", name="Enable").click()
    expect(row.locator(".next-run")).to_contain_text(next_run)
