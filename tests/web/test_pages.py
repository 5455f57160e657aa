"""The dashboard's pages and actions through Starlette's TestClient, on a real Redis (no worker)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from celery import Celery
from starlette.testclient import TestClient

from activejob_celery import init_app
from activejob_celery.dead_letters import DeadLetter, store_for
from activejob_celery.recurring import load_recurring, sync
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.web import create_app
from activejob_celery.web.queues import queue_overview
from tests.support.redis_server import free_port
from tests.web.conftest import LOCAL, LOCAL_URL
from tests.web.jobs import WebNightlyJob, WebPausedQueueJob, WebRecordJob
from tests.web.support import csrf_of

XSS = "<script>alert('xss')</script>"


def record_letter(app, *, job=None, error_class="RuntimeError", reason="unhandled", message=None):
    job = job or WebRecordJob("redis://unused", "key", XSS)
    letter = DeadLetter(
        id=str(uuid.uuid4()),
        job_id=job.job_id,
        job_class=type(job).job_name,
        queue_name="default",
        payload=job.serialize(),
        error_class=error_class,
        error_message=message or f"boom {XSS}",
        traceback=f"Traceback (most recent call last):\n  {XSS}\nRuntimeError: boom",
        reason=reason,
        attempts=1,
        failed_at=datetime.now(timezone.utc),
    )
    return store_for(app).record(letter)


def post(client, path, page="/queues", **fields):
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def test_every_page_renders(aj_web_client):
    for path, heading in [
        ("/", "Overview"),
        ("/queues", "Queues"),
        ("/scheduled", "Scheduled jobs"),
        ("/dead", "Dead letters"),
        ("/recurring", "Recurring jobs"),
        ("/stats", "Performance by job class"),
    ]:
        response = aj_web_client.get(path)
        assert response.status_code == 200, path
        assert f"<h1>{heading}</h1>" in response.text
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["x-frame-options"] == "DENY"


def test_payloads_and_tracebacks_are_shown_as_text(aj_web_app, aj_web_client):
    letter = record_letter(aj_web_app)
    for path in ["/dead", f"/dead/{letter.id}", f"/jobs/{letter.job_id}"]:
        page = aj_web_client.get(path).text
        assert "<script>" not in page, path
        assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page, path


def test_dead_letter_filters(aj_web_app, aj_web_client):
    old = record_letter(aj_web_app, error_class="TimeoutError", reason="exhausted")
    new = record_letter(aj_web_app, error_class="KeyError")
    page = aj_web_client.get("/dead", params={"error_class": "TimeoutError"}).text
    assert old.id in page and new.id not in page
    assert "1 dead letter matches" in page
    page = aj_web_client.get("/dead", params={"reason": "unhandled"}).text
    assert new.id in page and old.id not in page
    page = aj_web_client.get("/dead", params={"since": "nonsense"}).text
    assert "neither a duration" in page and old.id in page and new.id in page


def test_dead_letter_prefix_redirects_and_unknown_is_404(aj_web_app, aj_web_client):
    letter = record_letter(aj_web_app)
    response = aj_web_client.get(f"/dead/{letter.id[:12]}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/dead/{letter.id}"
    assert aj_web_client.get("/dead/no-such-letter").status_code == 404


def test_retry_one_asks_then_publishes_again(aj_web_app, aj_web_client):
    letter = record_letter(aj_web_app)
    asked = post(aj_web_client, "/dead/retry", id=letter.id)
    assert asked.status_code == 200
    assert "Retry this dead letter: 1 job?" in asked.text
    assert store_for(aj_web_app).get(letter.id) is not None  # nothing happened yet
    done = post(aj_web_client, "/dead/retry", id=letter.id, confirm="yes")
    assert done.status_code == 303
    assert store_for(aj_web_app).get(letter.id) is None
    assert queue_overview(aj_web_app).queues[0].depth == 1  # back on "default"
    assert "Retried 1 dead letter." in aj_web_client.get(done.headers["location"]).text


def test_discard_all_matching_only_touches_matches(aj_web_app, aj_web_client):
    keep = record_letter(aj_web_app, error_class="KeyError")
    drop = [record_letter(aj_web_app, error_class="TimeoutError") for _ in range(3)]
    fields = {"scope": "matching", "error_class": "TimeoutError"}
    asked = post(aj_web_client, "/dead/discard", **fields)
    assert "Discard every dead letter matching the filters: 3 jobs?" in asked.text
    assert 'name="error_class" value="TimeoutError"' in asked.text
    done = post(aj_web_client, "/dead/discard", **fields, confirm="yes")
    assert done.status_code == 303
    store = store_for(aj_web_app)
    assert [letter.id for letter in store.list()] == [keep.id]
    assert all(store.get(letter.id) is None for letter in drop)


def test_scheduled_jobs_list_run_now_and_delete(aj_web_app, aj_web_client):
    later = WebRecordJob.set(wait=timedelta(hours=1)).perform_later("redis://unused", "k", "v")
    other = WebPausedQueueJob.set(wait=timedelta(hours=2)).perform_later("redis://unused", "k", "w")
    page = aj_web_client.get("/scheduled").text
    assert later.job_id in page and other.job_id in page and "2 jobs waiting" in page
    assert other.job_id not in aj_web_client.get("/scheduled", params={"queue": "default"}).text

    assert post(aj_web_client, "/scheduled/run", job_id=later.job_id).status_code == 303
    assert scheduled_set_for(aj_web_app).get(later.job_id) is None
    depths = {row.name: row.depth for row in queue_overview(aj_web_app).queues}
    assert depths["default"] == 1

    asked = post(aj_web_client, "/scheduled/delete", job_id=other.job_id)
    assert "It will not run." in asked.text and scheduled_set_for(aj_web_app).count() == 1
    post(aj_web_client, "/scheduled/delete", job_id=other.job_id, confirm="yes")
    assert scheduled_set_for(aj_web_app).count() == 0


def test_job_page_finds_a_job_wherever_it_is(aj_web_app, aj_web_client):
    scheduled = WebRecordJob.set(wait=timedelta(hours=1)).perform_later("redis://unused", "k", "s")
    page = aj_web_client.get(f"/jobs/{scheduled.job_id}").text
    assert 'id="where-scheduled"' in page and "WebRecordJob" in page

    queued = WebRecordJob.set(priority=3).perform_later("redis://unused", "k", "q")
    page = aj_web_client.get("/jobs", params={"job_id": queued.job_id}).text
    assert 'id="where-waiting"' in page and "default (priority 3)" in page
    assert aj_web_client.get(f"/jobs/{queued.provider_job_id}").status_code == 200

    letter = record_letter(aj_web_app)
    page = aj_web_client.get(f"/jobs/{letter.job_id}").text
    assert 'id="where-dead"' in page and f"/dead/{letter.id}" in page

    missing = aj_web_client.get(f"/jobs/{uuid.uuid4()}")
    assert missing.status_code == 404 and 'id="not-found"' in missing.text


def test_queue_depth_per_priority_bucket(aj_web_app, aj_web_client):
    for priority in (0, 0, 5, 9, -3):  # lists: 0 and none -> p1, 5-9 -> p6, negative -> p0
        WebRecordJob.set(priority=priority).perform_later("redis://unused", "k", "v")
    [row] = [row for row in queue_overview(aj_web_app).queues if row.name == "default"]
    assert row.buckets == (1, 2, 0, 0, 0, 0, 2, 0, 0, 0)
    assert row.depth == 5
    page = aj_web_client.get("/queues").text
    assert '<td class="num depth">5</td>' in page


def test_recurring_page_lists_runs_and_toggles(aj_web_app, aj_web_client):
    entry = {"class": WebNightlyJob.job_name, "schedule": "every day at 2am", "args": ["u", "k"]}
    sync(aj_web_app, load_recurring({"nightly": entry}))
    page = aj_web_client.get("/recurring").text
    assert 'data-key="nightly"' in page and "every day at 2am" in page and "Enabled" in page

    done = post(aj_web_client, "/recurring/run", key="nightly")
    assert "Enqueued nightly" in aj_web_client.get(done.headers["location"]).text
    depths = {row.name: row.depth for row in queue_overview(aj_web_app).queues}
    assert depths["default"] == 1

    post(aj_web_client, "/recurring/toggle", key="nightly", enabled="0")
    page = aj_web_client.get("/recurring").text
    assert "Disabled" in page and ">Enable</button>" in page
    sync(aj_web_app, load_recurring({"nightly": entry}))  # a sync keeps it disabled
    assert ">Enable</button>" in aj_web_client.get("/recurring").text
    post(aj_web_client, "/recurring/toggle", key="nightly", enabled="1")
    assert ">Disable</button>" in aj_web_client.get("/recurring").text


def test_pages_on_a_broker_that_is_not_redis_say_what_is_off():
    app = Celery("aj_web_amqp", broker="amqp://guest@127.0.0.1:1//", set_as_current=False)
    app.conf.redbeat_redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    init_app(app)
    with TestClient(create_app(app), base_url=LOCAL_URL, client=LOCAL) as client:
        overview = client.get("/")
        assert overview.status_code == 200
        assert 'id="scheduled-count">n/a' in overview.text
        assert "No Redis for counters" in overview.text
        assert '<td class="num depth">unknown on this broker</td>' in client.get("/queues").text
        assert "activejob_scheduler is &#39;celery&#39;" in client.get("/scheduled").text
        dead = client.get("/dead")
        assert dead.status_code == 503 and "dead-letter store needs Redis" in dead.text
        recurring = client.get("/recurring")
        assert recurring.status_code == 503 and "Redis is unavailable" in recurring.text
    app.close()
