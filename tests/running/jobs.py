"""Jobs of the running-registry tests: they record in Redis and can wait for the test."""

from __future__ import annotations

import os
import time

import redis

from activejob_celery import ApplicationJob, discard_on, retry_on

RELEASE_TIMEOUT = 120


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


class HeldJob(ApplicationJob):
    """Says it started (``<key>:started``), then waits until the test pushes to ``<key>:go``."""

    def perform(self, url: str, key: str) -> None:
        with _client(url) as client:
            client.rpush(f"{key}:started", f"{self.job_id}:{os.getpid()}")
            deadline = time.monotonic() + RELEASE_TIMEOUT
            while not client.lindex(f"{key}:go", 0) and time.monotonic() < deadline:
                time.sleep(0.05)


class HeldFailingJob(HeldJob):
    """Waits like :class:`HeldJob`, then fails (a dead letter)."""

    def perform(self, url: str, key: str) -> None:
        super().perform(url, key)
        raise RuntimeError("failed after the wait")


class HeldRetriedJob(HeldJob):
    """Waits, then fails once into a retry far away (the run ends as a retry)."""

    retry_on(KeyError, wait=3600, attempts=2)

    def perform(self, url: str, key: str) -> None:
        super().perform(url, key)
        raise KeyError("retry me")


class HeldDiscardedJob(HeldJob):
    """Waits, then is discarded."""

    discard_on(LookupError)

    def perform(self, url: str, key: str) -> None:
        super().perform(url, key)
        raise LookupError("discard me")
