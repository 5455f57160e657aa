"""Where the per-class statistics are shown: ``jobs stats --by-class`` and the Performance page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from celery import Celery
from playwright.sync_api import expect
from starlette.testclient import TestClient

from activejob_celery import init_app
from activejob_celery.parts_off import warn_parts_off
from activejob_celery.web import create_app
from activejob_celery.worker import job_stats, metrics
from tests.support.worker import run_worker, wait_for
from tests.web.conftest import LOCAL, LOCAL_URL
from tests.web.stats_jobs import StatsDeadJob, StatsSlowJob

ROOT = Path(__file__).resolve().parents[2]
XSS_CLASS = "shop.<script>alert('xss')</script>Job"


def seed(app):
    """Two classes: a receipt job (hour and day) and a report job (earlier today only)."""
    now = time.time()
    for duration in (0.3, 0.3, 0.3, 2.0):
        job_stats.record(app, "shop.jobs.ReceiptJob", "performed", duration=duration, now=now)
    job_stats.record(app, "shop.jobs.ReceiptJob", "enqueued", now=now)
    job_stats.record(app, "shop.jobs.ReceiptJob", "retried", duration=0.003, now=now)
    job_stats.record(app, "shop.jobs.ReportJob", "dead", duration=40.0, now=now - 3 * 3600)
    metrics.flush()


def jobs_cli(url, *args):
    env = {**os.environ, "AJ_WEB_REDIS_URL": url, "COLUMNS": "200"}
    command = [sys.executable, "-m", "celery", "-A", "tests.web.cli_app", "jobs", *args]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_jobs_stats_by_class_as_json_and_as_a_table(aj_web_app, aj_redis):
    seed(aj_web_app)
    report = json.loads(jobs_cli(aj_redis.url, "stats", "--by-class", "--json"))
    receipt = report["by_class"]["shop.jobs.ReceiptJob"]
    assert receipt["hour"] == receipt["day"]
    hour = receipt["hour"]
    assert [hour[name] for name in job_stats.COUNTERS] == [1, 4, 1, 0, 0]
    assert hour["p50"] == {"low": 0.25, "high": 0.5}
    assert hour["p95"] == {"low": 1.0, "high": 2.5}
    report_job = report["by_class"]["shop.jobs.ReportJob"]
    assert report_job["hour"]["dead"] == 0 and report_job["hour"]["p50"] is None
    assert report_job["day"]["dead"] == 1
    assert report_job["day"]["p50"] == {"low": 30.0, "high": 60.0}
    assert "queues" in report  # the rest of the report is still there

    table = jobs_cli(aj_redis.url, "stats", "--by-class")
    header = "CLASS                 WINDOW  ENQUEUED  PERFORMED  RETRIED  DISCARDED  DEAD"
    assert header in table
    assert "shop.jobs.ReceiptJob  hour           1          4        1          0     0" in table
    [line] = [line for line in table.splitlines() if line.startswith("shop.jobs.ReceiptJob  hour")]
    assert line.endswith("≤ 2.5 s") and "  ≤ 500 ms  " in line
    assert "shop.jobs.ReportJob   day            0          0        0          0     1" in table
    assert "by_class" not in json.loads(jobs_cli(aj_redis.url, "stats", "--json"))  # only if asked


def test_jobs_stats_by_class_with_nothing_counted(aj_web_app, aj_redis):
    assert json.loads(jobs_cli(aj_redis.url, "stats", "--by-class", "--json"))["by_class"] == {}
    assert "no job was counted in the last day" in jobs_cli(aj_redis.url, "stats", "--by-class")


def test_the_performance_page_lists_each_class(aj_web_app, aj_web_client):
    seed(aj_web_app)
    job_stats.record(aj_web_app, XSS_CLASS, "performed", duration=0.01)
    metrics.flush()
    response = aj_web_client.get("/stats")
    assert response.status_code == 200
    assert "<h1>Performance by job class</h1>" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<script>alert" not in response.text  # a class name is text, never markup
    assert "&lt;script&gt;alert" in response.text
    page = response.text
    row = page.split('data-class="shop.jobs.ReceiptJob" data-window="hour"', 1)[1].split("</tr>")[0]
    for name, count in zip(job_stats.COUNTERS, (1, 4, 1, 0, 0), strict=True):
        assert f'class="num {name}' in row and f">{count}</td>" in row
    assert '<td class="num p50">≤ 500 ms</td>' in row
    assert '<td class="num p95">≤ 2.5 s</td>' in row
    report_hour = page.split('data-class="shop.jobs.ReportJob" data-window="hour"', 1)[1]
    assert '<td class="num p50">-</td>' in report_hour.split("</tr>")[0]
    assert 'aria-current="page">Performance</a>' in page


def test_the_performance_page_with_nothing_counted(aj_web_client):
    assert "No job was counted in the last day." in aj_web_client.get("/stats").text


def test_the_performance_page_in_a_browser(aj_web_app, aj_redis, aj_dashboard, aj_page):
    page = aj_page
    with run_worker(aj_web_app):
        StatsSlowJob.perform_later(0.3)
        StatsDeadJob.perform_later()
        page.goto(aj_dashboard + "/")
        page.get_by_role("link", name="Performance").click()
        slow = page.locator(f'tr[data-class="{StatsSlowJob.job_name}"][data-window="hour"]')
        dead = page.locator(f'tr[data-class="{StatsDeadJob.job_name}"][data-window="day"]')

        def shown() -> bool:
            page.reload()
            counted = dead.count() == 1 and dead.locator(".dead").inner_text() == "1"
            return counted and slow.count() == 1

        wait_for(shown, timeout=60, interval=0.5, message="both classes on the page")
    expect(slow.locator(".performed")).to_have_text("1")
    expect(slow.locator(".enqueued")).to_have_text("1")
    expect(slow.locator(".p50")).not_to_have_text("-")
    expect(dead.locator(".p95")).not_to_have_text("-")


def test_without_a_redis_statistics_are_said_to_be_off(caplog):
    app = Celery("aj_stats_amqp", broker="amqp://guest@127.0.0.1:1//", set_as_current=False)
    init_app(app)
    lines = warn_parts_off(app)
    assert any(
        "Job statistics are off for app 'aj_stats_amqp'" in line
        and "activejob_dead_letters_url" in line
        for line in lines
    ), lines
    with TestClient(create_app(app), base_url=LOCAL_URL, client=LOCAL) as client:
        assert 'id="stats-off"' in client.get("/stats").text
    app.close()
