"""The job page shows a job's status and progress, and cancels it through a confirmation page."""

from __future__ import annotations

from typing import Any

from activejob_celery import ApplicationJob, job_status
from activejob_celery.status import status_store_for
from tests.web.support import csrf_of


class ReportJob(ApplicationJob):
    def perform(self) -> None: ...


def _post(client: Any, path: str, page: str, **fields: str) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def test_the_job_page_shows_status_progress_and_cancels(
    aj_web_app: Any, aj_web_client: Any
) -> None:
    job = ReportJob.set(wait=3600).perform_later()
    assert isinstance(job, ReportJob)
    store = status_store_for(aj_web_app)
    assert store is not None
    store.progress(job.job_id, {"done": "50", "total": "200", "message": "Parsing <rows>"})

    page = aj_web_client.get(f"/jobs/{job.job_id}")
    assert page.status_code == 200
    assert 'id="job-status" class="badge">scheduled</span>' in page.text
    assert '<progress max="200" value="50"' in page.text and "(25.0%)" in page.text
    assert "Parsing &lt;rows&gt;" in page.text  # escaped
    assert 'id="cancel-job"' in page.text

    path = f"/jobs/{job.job_id}"
    asked = _post(aj_web_client, "/cancel", path, job_id=job.job_id)
    assert asked.status_code == 200 and "Cancel a job" in asked.text
    assert job_status(job.job_id, app=aj_web_app)["status"] == "scheduled"  # not yet
    done = _post(aj_web_client, "/cancel", path, job_id=job.job_id, confirm="yes")
    assert done.status_code == 303 and done.headers["location"].endswith(path)
    assert job_status(job.job_id, app=aj_web_app)["status"] == "cancelled"
    after = aj_web_client.get(path)
    assert "Cancelled " in after.text and 'class="badge off">cancelled' in after.text
    assert 'id="cancel-job"' not in after.text  # an ended job has no Cancel button


def test_a_cancel_without_the_csrf_token_is_refused(aj_web_app: Any, aj_web_client: Any) -> None:
    job = ReportJob.perform_later()
    assert isinstance(job, ReportJob)
    refused = aj_web_client.post(
        "/cancel", data={"job_id": job.job_id, "confirm": "yes"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert job_status(job.job_id, app=aj_web_app)["status"] == "queued"


def test_an_unknown_job_is_still_not_found(aj_web_client: Any) -> None:
    page = aj_web_client.get("/jobs/no-such-job")
    assert page.status_code == 404 and 'id="job-status"' not in page.text
