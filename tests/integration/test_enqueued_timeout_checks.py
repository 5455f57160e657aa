"""The start-up checks for a timeout that came with its enqueue (``set(timeout=...)``).

A worker's checks at start read each class's ``timeout``; one enqueue's is known only when its run
starts. Its first run says once, per job class, what the start-up checks say of a class timeout:
a hard limit past the broker's visibility timeout (the run would be delivered again and run
twice), and a pool that cannot enforce the hard limit.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from activejob_celery import ApplicationJob, timeouts
from activejob_celery.worker_checks import check_enqueued_timeout
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

CHECKS = "activejob_celery.worker"


def _warnings(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == CHECKS and r.levelno == logging.WARNING and name in r.getMessage()
    ]


def test_a_solo_worker_warns_once_of_an_enqueued_timeout_past_the_visibility_timeout(
    aj_redis, aj_job_buffer, caplog
):
    app = make_app(aj_redis.url, broker_transport_options={"visibility_timeout": 60})

    class SlowExportJob(ApplicationJob):
        def perform(self, n):
            aj_job_buffer.add(n)

    class PlainExportJob(ApplicationJob):
        def perform(self, n):
            aj_job_buffer.add(n)

    SlowExportJob.set(timeout=120).perform_later(1)
    SlowExportJob.set(timeout=timedelta(minutes=5)).perform_later(2)
    SlowExportJob.set(timeout=10).perform_later(3)
    PlainExportJob.perform_later(4)
    with caplog.at_level(logging.WARNING, logger=CHECKS), run_worker(app):
        wait_for(lambda: sorted(aj_job_buffer.values) == [1, 2, 3, 4], timeout=20)
    found = _warnings(caplog, SlowExportJob.job_name)
    visibility = [text for text in found if "visibility_timeout (60 s)" in text]
    assert visibility == [
        f"Job {SlowExportJob.job_name} was enqueued with set(timeout=120): it may run 150 s "
        "(its timeout + activejob_timeout_grace), longer than the broker's visibility_timeout "
        "(60 s): a run still going then is delivered again and runs twice. Raise "
        "broker_transport_options['visibility_timeout'] above 150, or give the job a shorter "
        "timeout."
    ]
    [pool] = [text for text in found if "on a solo worker" in text]
    assert "cannot be enforced here" in pool and "--pool prefork" in pool
    assert len(found) == 2  # once each, though three runs had a timeout
    assert _warnings(caplog, PlainExportJob.job_name) == []  # no timeout, nothing to say
    app.close()


def test_no_warning_within_the_visibility_timeout_or_outside_a_worker(
    aj_redis, aj_job_buffer, caplog
):
    app = make_app(aj_redis.url)  # kombu's default visibility timeout: 3600 s

    class ShortReportJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    with caplog.at_level(logging.WARNING, logger=CHECKS):
        ShortReportJob.set(timeout=300).perform_now()  # not a worker's run: no check
        assert _warnings(caplog, ShortReportJob.job_name) == []
        ShortReportJob.set(timeout=300).perform_later()
        with run_worker(app):
            wait_for(lambda: len(aj_job_buffer.values) == 2, timeout=20)
    [only] = _warnings(caplog, ShortReportJob.job_name)  # the solo pool's, not the visibility's
    assert "on a solo worker" in only
    app.close()


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        ("prefork", []),  # the message's hard limit is enforced there
        ("threads", ["cannot be enforced here"]),
        ("gevent", ["not enforced on this pool"]),
    ],
)
def test_the_pool_check_follows_the_worker_pool(aj_redis, caplog, monkeypatch, pool, expected):
    app = make_app(aj_redis.url)

    class ImportJob(ApplicationJob):
        def perform(self):
            pass

    class TimedImportJob(ApplicationJob):
        timeout = timedelta(minutes=2)  # named by the start WARNING of the pool already

        def perform(self):
            pass

    monkeypatch.setattr(timeouts, "_pool", [pool])
    with caplog.at_level(logging.WARNING, logger=CHECKS):
        for job_class in (ImportJob, TimedImportJob, ImportJob):
            job = job_class()
            job._timeout = 90.0
            check_enqueued_timeout(app, job)
    found = _warnings(caplog, ImportJob.job_name)
    assert [part for part in expected if len(found) == 1 and part in found[0]] == expected
    assert len(found) == len(expected)  # once, though two runs asked
    assert _warnings(caplog, TimedImportJob.job_name) == []
    app.close()
