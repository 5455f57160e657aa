"""An app for dead-letter subprocess tests (``celery -A tests.integration.apps.dead_letters_app``).

The broker, which also holds the dead-letter store, comes from ``$AJ_DEAD_LETTERS_REDIS_URL``.
Jobs record their runs in the Redis list ``aj:ran``.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob, discard_on, queue_as, retry_on

REDIS_URL = os.environ.get("AJ_DEAD_LETTERS_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("shop", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
)
activejob_celery.init_app(app)


class SupplierTimeout(Exception):
    """The supplier's API did not answer in time."""


class ImportCatalogJob(ApplicationJob):
    """Imports a supplier's catalog batch; times out until the batch is in the set ``aj:fixed``."""

    job_name = "shop.jobs.ImportCatalogJob"
    queue_as("imports")
    retry_on(SupplierTimeout, wait=0, attempts=2, jitter=0)

    def perform(self, batch_id: int) -> None:
        with redis.Redis.from_url(REDIS_URL) as client:
            if not client.sismember("aj:fixed", batch_id):
                raise SupplierTimeout(f"supplier API timed out for batch {batch_id}")
            client.rpush("aj:ran", f"{batch_id}:{self.executions}:{self.job_id}")


class SendReceiptJob(ApplicationJob):
    """Discards receipts for orders that do not exist, keeping them as dead letters."""

    job_name = "shop.jobs.SendReceiptJob"
    discard_on(LookupError, dead_letter=True)

    def perform(self, order_id: int) -> None:
        raise LookupError(f"order {order_id} does not exist")
