"""``jobs running`` / ``jobs workers`` and the dashboard's Running and Workers pages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from celery import Celery
from click.testing import CliRunner
from starlette.testclient import TestClient

from activejob_celery.cli import jobs
from activejob_celery.running import RunningStore, store_for
from activejob_celery.status.tracking import status_store_for
from activejob_celery.web import create_app
from tests.web.conftest import LOCAL, LOCAL_URL

XSS = "<script>alert('x')</script>"
FIELDS = {"pid": 7, "pool": "prefork", "concurrency": 4, "queues": ["default", "low"]}


def _cli(app: Celery, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(jobs, list(args), obj=SimpleNamespace(app=app))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def store(aj_app: Celery) -> RunningStore:
    found = store_for(aj_app)
    assert found is not None
    return found


@pytest.fixture
def client(aj_app: Celery) -> Iterator[TestClient]:
    with TestClient(create_app(aj_app), base_url=LOCAL_URL, client=LOCAL) as test_client:
        yield test_client


def _two_workers_one_job(store: RunningStore) -> None:
    store.register("alpha@host", {**FIELDS, "hostname": "alpha@host"})
    store.register("beta@host", {**FIELDS, "hostname": "beta@host", "pool": "solo"})
    store.job_started(
        "alpha@host",
        "task-1",
        {
            "job_class": "shop.jobs.ExportJob",
            "job_id": "job-1",
            "provider_job_id": "task-1",
            "queue_name": "low",
            "worker": "alpha@host",
            "pid": 8,
            "started_at": time.time() - 90,
        },
    )


def test_jobs_running_prints_a_table_and_json(aj_app: Celery, store: RunningStore) -> None:
    assert _cli(aj_app, "running") == "No job is running.\n"
    assert json.loads(_cli(aj_app, "running", "--json")) == []
    _two_workers_one_job(store)
    [job] = json.loads(_cli(aj_app, "running", "--json"))
    assert (job["job_class"], job["job_id"], job["provider_job_id"]) == (
        "shop.jobs.ExportJob",
        "job-1",
        "task-1",
    )
    assert (job["queue_name"], job["worker"], job["pid"]) == ("low", "alpha@host", 8)
    assert {
        key: job[key] for key in ("done", "total", "message", "step", "cursor")
    } == dict.fromkeys(("done", "total", "message", "step", "cursor"))
    header, row = _cli(aj_app, "running").splitlines()
    assert header.split() == [
        "CLASS",
        "JOB",
        "ID",
        "QUEUE",
        "WORKER",
        "STARTED",
        "PROGRESS",
        "STEP",
    ]
    assert row.split()[:5] == ["shop.jobs.ExportJob", "job-1", "low", "alpha@host", "(pid"]
    assert "s ago" in row


def test_jobs_workers_prints_a_table_and_json(aj_app: Celery, store: RunningStore) -> None:
    assert _cli(aj_app, "workers") == "No worker is running.\n"
    _two_workers_one_job(store)
    data = json.loads(_cli(aj_app, "workers", "--json"))
    assert [(w["hostname"], w["pool"], w["busy"], w["concurrency"]) for w in data] == [
        ("alpha@host", "prefork", 1, 4),
        ("beta@host", "solo", 0, 4),
    ]
    assert data[0]["queues"] == ["default", "low"] and data[0]["stale"] is False
    lines = _cli(aj_app, "workers").splitlines()
    assert lines[0].split() == [
        "HOSTNAME",
        "POOL",
        "CONCURRENCY",
        "BUSY",
        "QUEUES",
        "HEARTBEAT",
        "STATE",
    ]
    assert lines[1].split()[:5] == ["alpha@host", "prefork", "4", "1/4", "default,low"]
    assert lines[1].split()[-1] == "running"


def test_without_a_registry_the_commands_name_the_setting() -> None:
    from activejob_celery import init_app

    app = Celery("no_redis", broker="memory://", set_as_current=False)
    app.conf.activejob_scheduler = "celery"
    init_app(app)
    for command in ("running", "workers"):
        assert "activejob_scheduler_url" in _cli(app, command, code=1)


def test_the_running_page_lists_each_job(client: TestClient, store: RunningStore) -> None:
    page = client.get("/running")
    assert page.status_code == 200 and "No job is running." in page.text
    _two_workers_one_job(store)
    store.job_started(
        "beta@host", "task-2", {"job_class": XSS, "job_id": "job-2", "worker": "beta@host"}
    )
    page = client.get("/running")
    assert page.status_code == 200
    assert 'data-job-id="job-1"' in page.text and 'data-job-id="job-2"' in page.text
    assert "ExportJob" in page.text and "task-1" in page.text and "alpha@host" in page.text
    assert "pid 8" in page.text and "1 min ago" in page.text
    assert XSS not in page.text and "&lt;script&gt;" in page.text
    assert 'action="/cancel"' in page.text and 'name="job_id" value="job-1"' in page.text
    assert 'href="/running" aria-current="page"' in page.text


def test_the_running_page_shows_progress_step_and_cursor_from_the_status_store(
    aj_app: Celery, client: TestClient, store: RunningStore
) -> None:
    _two_workers_one_job(store)
    status = status_store_for(aj_app)
    assert status is not None
    fields = {"status": "running", "done": "40", "total": "200", "message": "Parsing"}
    status.client.hset(status.key("job-1"), mapping={**fields, "step": "walk", "cursor": "433"})
    page = client.get("/running")
    assert '<progress max="200" value="40">' in page.text and "Parsing" in page.text
    assert "<code>walk</code>" in page.text and "<code>433</code>" in page.text
    [listed] = json.loads(_cli(aj_app, "running", "--json"))
    assert (listed["done"], listed["total"], listed["step"], listed["cursor"]) == (
        40,
        200,
        "walk",
        "433",
    )


def test_the_workers_page_lists_each_worker(client: TestClient, store: RunningStore) -> None:
    assert "No worker is running." in client.get("/workers").text
    _two_workers_one_job(store)
    store.register("old@host", {**FIELDS, "hostname": "old@host"}, now=time.time() - 20)
    page = client.get("/workers")
    assert page.status_code == 200
    for name in ("alpha@host", "beta@host", "old@host"):
        assert f'data-hostname="{name}"' in page.text
    assert page.text.count('badge bad">stale') == 1
    assert "<code>default</code>, <code>low</code>" in page.text
    assert 'href="/workers" aria-current="page"' in page.text


def test_without_a_registry_the_pages_name_the_setting() -> None:
    from activejob_celery import init_app

    app = Celery("no_redis", broker="memory://", set_as_current=False)
    app.conf.activejob_scheduler = "celery"
    app.conf.activejob_dead_letters_url = None
    init_app(app)
    with TestClient(create_app(app), base_url=LOCAL_URL, client=LOCAL) as test_client:
        for path in ("/running", "/workers"):
            page = test_client.get(path)
            assert page.status_code == 200 and "activejob_scheduler_url" in page.text
