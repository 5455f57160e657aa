"""Job classes the dashboard tests enqueue; their side effects land in Redis, where tests look."""

from __future__ import annotations

import redis

from activejob_celery import ApplicationJob, queue_as


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


class WebRecordJob(ApplicationJob):
    """Appends ``value`` to the Redis list ``key``."""

    def perform(self, url: str, key: str, value: str) -> None:
        with _client(url) as client:
            client.rpush(key, value)


class WebFlakyJob(ApplicationJob):
    """Fails while ``<key>:fail`` is set (message with markup), else appends ``ran`` to ``key``."""

    def perform(self, url: str, key: str) -> None:
        with _client(url) as client:
            if client.get(f"{key}:fail"):
                raise RuntimeError("boom <script>alert('xss')</script>")
            client.rpush(key, "ran")


class WebPausedQueueJob(WebRecordJob):
    """A recording job on the queue the tests pause."""

    queue_as("web_paused")


class WebOtherQueueJob(WebRecordJob):
    """A recording job on a queue that stays consumed."""

    queue_as("web_other")


class WebNightlyJob(ApplicationJob):
    """What the recurring entry of the tests enqueues."""

    def perform(self, url: str, key: str) -> None:
        with _client(url) as client:
            client.rpush(key, "nightly")


def ran(url: str, key: str) -> list[str]:
    """What jobs appended to ``key`` so far."""
    with _client(url) as client:
        return [value.decode() for value in client.lrange(key, 0, -1)]
