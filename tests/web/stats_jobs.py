"""Job classes the statistics tests run: a known sleep, a no-op, a retry, a discard and a death."""

from __future__ import annotations

import time

from activejob_celery import ApplicationJob, discard_on, retry_on


class StatsTimeout(Exception):
    """What the retried job always raises."""


class StatsSlowJob(ApplicationJob):
    """Sleeps ``seconds`` (0.3 s in the tests: the 0.25-0.5 s bucket, or later ones under load)."""

    def perform(self, seconds: float) -> None:
        time.sleep(seconds)


class StatsQuickJob(ApplicationJob):
    """Does nothing."""

    def perform(self) -> None:
        return None


class StatsRetryJob(ApplicationJob):
    """Times out twice: the first run is retried, the second is out of attempts (dead)."""

    retry_on(StatsTimeout, wait=0, attempts=2, jitter=0)

    def perform(self) -> None:
        raise StatsTimeout("the supplier did not answer")


class StatsDiscardJob(ApplicationJob):
    """Discarded: the record it works on is gone."""

    discard_on(LookupError)

    def perform(self) -> None:
        raise LookupError("no such order")


class StatsDeadJob(ApplicationJob):
    """Fails with an error nothing handles."""

    def perform(self) -> None:
        raise RuntimeError("boom")
