"""A user-style app for `celery -A tests.integration.apps.routing_app purge|worker` tests.

Celery's own routing settings decide where its jobs go: a ``task_routes`` glob, a changed
``task_default_queue``, and one ``queue_as``. The broker URL comes from ``$AJ_ROUTING_REDIS_URL``.
"""

from __future__ import annotations

import os

from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, queue_as

REDIS_URL = os.environ.get("AJ_ROUTING_REDIS_URL", "redis://127.0.0.1:6379/1")
CONF = {
    "task_default_queue": "proj",
    "task_routes": {"routing_app.jobs.*": {"queue": "jobs_all"}},
}

app = Celery("routing_app", broker=REDIS_URL)
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False, **CONF)
activejob_celery.init_app(app)


class RoutedJob(ApplicationJob):
    """Routed by the ``task_routes`` glob to ``jobs_all``."""

    job_name = "routing_app.jobs.RoutedJob"

    def perform(self, number: int) -> None:
        pass


class ProjJob(ApplicationJob):
    """No route, no ``queue_as``: Celery's ``task_default_queue`` (``proj``)."""

    job_name = "routing_app.other.ProjJob"

    def perform(self, number: int) -> None:
        pass


class ReportJob(ApplicationJob):
    """``queue_as`` wins over the defaults."""

    job_name = "routing_app.other.ReportJob"
    queue_as("reports")

    def perform(self, number: int) -> None:
        pass
