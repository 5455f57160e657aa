"""The start-up checks for a timeout that came with its enqueue (``set(timeout=...)``).

A worker's checks at start read each class's ``timeout``; one enqueue's is known only when its run
starts. Its first run says once, per job class, what the start-up checks say of a class timeout:
a hard limit past the broker's visibility timeout (the run would be delivered again and run
twice), and a pool that cannot enforce the hard limit.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

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


def test_no_warning_within_the_visibility_timeout(aj_redis, aj_job_buffer, caplog):
    app = make_app(aj_redis.url)  # kombu's default visibility timeout: 3600 s

    class ShortReportJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    ShortReportJob.set(timeout=300).perform_later()
    with caplog.at_level(logging.WARNING, logger=CHECKS), run_worker(app):
        wait_for(lambda: len(aj_job_buffer.values) == 1, timeout=20)
    [only] = _warnings(caplog, ShortReportJob.job_name)  # the solo pool's, not the visibility's
    assert "on a solo worker" in only
    app.close()


def test_no_check_outside_a_worker(aj_redis, aj_job_buffer, caplog):
    app = make_app(
        aj_redis.url, broker_transport_options={"visibility_timeout": 60}, task_always_eager=True
    )

    class InlineReportJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    with caplog.at_level(logging.WARNING, logger=CHECKS):
        InlineReportJob.set(timeout=300).perform_now()  # past 60 s, but not a worker's run
        InlineReportJob.set(timeout=300).perform_later()  # eager: the task runs, not a worker
    assert len(aj_job_buffer.values) == 2
    assert _warnings(caplog, InlineReportJob.job_name) == []
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
    app = make_app(aj_redis.url, broker_transport_options={"visibility_timeout": 60})

    class ImportJob(ApplicationJob):
        def perform(self):
            pass

    class TimedImportJob(ApplicationJob):
        timeout = timedelta(minutes=2)  # named by the start WARNING of the pool already

        def perform(self):
            pass

    monkeypatch.setattr(timeouts, "_pool", [pool])
    with caplog.at_level(logging.WARNING, logger=CHECKS):
        for job_class in (ImportJob, TimedImportJob, ImportJob, ImportJob):
            job = job_class()
            job._timeout = 90.0
            request = SimpleNamespace(timelimit=(None, 95.0))  # the message's: sender's grace
            check_enqueued_timeout(app, job, None if job_class is TimedImportJob else request)
    found = _warnings(caplog, ImportJob.job_name)
    # The message's hard limit (95 s, the sender's grace) is the one compared and named.
    assert [text for text in found if "may run 95 s" in text and "(60 s)" in text] == found[:1]
    assert len(found) == 1 + len(expected)  # once each, though three runs asked
    assert all(part in found[1] for part in expected)
    [timed] = _warnings(caplog, TimedImportJob.job_name)  # 90 + 30 s of this app's grace
    assert "may run 120 s" in timed and "set(timeout=90)" in timed
    app.close()


def test_a_check_that_fails_never_stops_the_run(aj_redis, caplog):
    app = make_app(aj_redis.url)

    class OddJob(ApplicationJob):
        def perform(self):
            pass

    job = OddJob()
    job._timeout = "not seconds"  # validated payloads never carry this; the check must not raise
    with caplog.at_level(logging.DEBUG, logger=CHECKS):
        check_enqueued_timeout(app, job)
    assert [r.levelno for r in caplog.records if r.name == CHECKS] == [logging.DEBUG]
    app.close()
