"""The app of the password/ACL/TLS tests (``celery -A tests.reliability.apps.secure_app``).

Configured the way the Celery and RedBeat docs say: the broker URL (also ``redbeat_redis_url``)
carries the ACL user and password, and for TLS (``rediss://``) ``broker_use_ssl`` names the CA
file. Nothing else: the scheduled set, the dead-letter store, the dashboard's counters and
RedBeat (whose ``redbeat_redis_use_ssl`` defaults to ``broker_use_ssl``) must all find their way
from these settings.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import redis
from celery import Celery

import activejob_celery
from activejob_celery import ApplicationJob

URL = os.environ.get("AJ_SECURE_URL", "redis://127.0.0.1:6379/0")
CA_FILE = os.environ.get("AJ_SECURE_CA")
SSL_OPTIONS: dict[str, Any] | None = (
    {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": CA_FILE} if CA_FILE else None
)

app = Celery("secure_app", broker=URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    redbeat_redis_url=URL,  # RedBeat 2.4 warns when it falls back to broker_url
    redbeat_lock_timeout=5,  # 5 x beat --max-interval, RedBeat's rule
    activejob_scheduler_poll_interval=0.25,
    activejob_recurring_schedule=os.environ.get("AJ_SECURE_RECURRING"),
)
if SSL_OPTIONS is not None:
    app.conf.broker_use_ssl = SSL_OPTIONS
activejob_celery.init_app(app)


class EchoJob(ApplicationJob):
    """Records its label in the Redis list ``secure:ran``."""

    job_name = "secure.EchoJob"

    def perform(self, label: str) -> None:
        with redis.Redis.from_url(URL, **(SSL_OPTIONS or {})) as client:
            client.rpush("secure:ran", label)


class FailingJob(ApplicationJob):
    """Always fails: it must end as a dead letter."""

    job_name = "secure.FailingJob"

    def perform(self, order_id: int) -> None:
        raise RuntimeError(f"order {order_id} cannot be charged")
