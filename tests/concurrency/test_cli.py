"""``jobs blocked`` and the blocked count of ``jobs stats``."""

from __future__ import annotations

import json
from types import SimpleNamespace

from celery import Celery
from click.testing import CliRunner

from activejob_celery import ApplicationJob, limits_concurrency
from activejob_celery.cli import jobs
from activejob_celery.cli.stats import collect_stats


def _cli(app: Celery, *args: str) -> str:
    result = CliRunner().invoke(jobs, list(args), obj=SimpleNamespace(app=app))
    assert result.exit_code == 0, result.output
    return result.output


def test_blocked_lists_holders_and_blocked_jobs_and_releases_a_stuck_slot(aj_app: Celery) -> None:
    class ExportJob(ApplicationJob):
        limits_concurrency(to=1, key=lambda account: account)

        def perform(self, account: str) -> None: ...

    holder = ExportJob.perform_later("acme")
    waiting = ExportJob.set(priority=3).perform_later("acme")
    ExportJob.perform_later("other")
    assert holder and waiting
    key = f"{ExportJob.job_name}/acme"

    data = json.loads(_cli(aj_app, "blocked", "--key", key, "--json"))
    assert [entry["key"] for entry in data] == [key]
    assert [h["job_id"] for h in data[0]["holders"]] == [holder.job_id]
    assert [(b["job_id"], b["priority"]) for b in data[0]["blocked"]] == [(waiting.job_id, 3)]

    table = _cli(aj_app, "blocked")
    assert f"holder  {holder.job_id}" in table and f"blocked {waiting.job_id}" in table
    assert f"{ExportJob.job_name}/other" in table
    assert collect_stats(aj_app)["blocked"] == 1
    assert "Blocked:        1" in _cli(aj_app, "stats")

    released = _cli(aj_app, "blocked", "--key", key, "--release", holder.job_id)
    assert "1 blocked job(s) published" in released
    data = json.loads(_cli(aj_app, "blocked", "--key", key, "--json"))
    assert [h["job_id"] for h in data[0]["holders"]] == [waiting.job_id]
    assert data[0]["blocked"] == []
    assert collect_stats(aj_app)["blocked"] == 0


def test_blocked_with_nothing_held(aj_app: Celery) -> None:
    assert "No concurrency key" in _cli(aj_app, "blocked")
