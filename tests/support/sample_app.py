"""A minimal Celery app for the infrastructure tests (``-A tests.support.sample_app``).

Broker and result backend come from ``$AJ_SAMPLE_REDIS_URL``.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

REDIS_URL = os.environ.get("AJ_SAMPLE_REDIS_URL", "redis://127.0.0.1:6379/1")

app = Celery("aj_sample", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
)


@app.task(name="aj_sample.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="aj_sample.record")
def record(key: str, value: str) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        client.rpush(key, value)
