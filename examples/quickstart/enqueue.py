"""Enqueue the quickstart's example jobs: ``python enqueue.py`` (a worker runs them).

The broker is ``$QUICKSTART_BROKER_URL`` (default ``redis://localhost:6379/0``), as in app.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from app import app  # noqa: F401 - init_app must run before anything is enqueued
from jobs import (
    USERS,
    ChargePaymentJob,
    ImportRowJob,
    ProcessOrderJob,
    ReportJob,
    SyncInventoryJob,
    WelcomeEmailJob,
)

import activejob_celery
from activejob_celery import ApplicationJob


def enqueue_examples() -> dict[str, ApplicationJob]:
    """Enqueue one job per outcome; returns them by label."""
    ada, grace = USERS[1], USERS[2]
    jobs: dict[str, ApplicationJob | bool] = {
        "welcome": grace.send_welcome_later(),
        "reminder": WelcomeEmailJob.set(wait=timedelta(seconds=2)).perform_later(
            ada, "Your trial ends soon"
        ),
        "report (premium)": ReportJob.perform_later(ada, period="weekly"),
        "report": ReportJob.perform_later(grace),
        "order (retried)": ProcessOrderJob.perform_later(1001),
        "payment (discarded)": ChargePaymentJob.perform_later(7),
        "inventory (fails)": SyncInventoryJob.set(priority=5).perform_later("SKU-42"),
    }
    rows = [ImportRowJob({"email": f"user{n}@example.com"}) for n in range(1, 4)]
    activejob_celery.perform_all_later(rows)
    for number, row in enumerate(rows, 1):
        jobs[f"import row {number}"] = row
    enqueued: dict[str, ApplicationJob] = {}
    for label, job in jobs.items():
        if not isinstance(job, ApplicationJob) or not job.successfully_enqueued:
            raise SystemExit(f"could not enqueue {label}: {getattr(job, 'enqueue_error', job)}")
        enqueued[label] = job
    return enqueued


if __name__ == "__main__":
    # Shows the Rails log lines: "[ActiveJob] Enqueued WelcomeEmailJob (Job ID: ...) to ...".
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for label, job in enqueue_examples().items():
        print(f"{label:<20} {type(job).__name__:<18} {job.queue_name:<13} {job.job_id}")
