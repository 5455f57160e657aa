"""Interrupted deliveries, worker-start warnings and the store-down backoff (in-process workers)."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
import redis

from activejob_celery import ApplicationJob, JobInterruptedError, retry_on
from activejob_celery.config import Settings
from activejob_celery.dead_letters import store_for
from activejob_celery.interruptions import Ledger, Start, ledger_for, run_id
from activejob_celery.rescue import exception_key
from activejob_celery.worker_checks import visibility_warnings
from tests.integration.dead_letters_support import job_payload, settle
from tests.integration.test_dead_letters_retry import aj_down_store, app_with_store
from tests.support.broker_lists import pop_entry
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

__all__ = ["aj_down_store"]  # the stopped-store fixture, shared with the retry tests

INTERRUPTED = exception_key((JobInterruptedError,))


def _interrupt(app, job, times=1):
    """Leave what ``times`` runs of ``job``'s message leave had each been killed mid-run: its
    run marks, and the message back on its queue flagged ``redelivered`` (as kombu's restore of
    an unacknowledged message flags it)."""
    ledger = ledger_for(app)
    for _ in range(times):
        ledger.start(job.job_id, run_id(job.provider_job_id, job.executions))
    with redis.Redis.from_url(app.conf.broker_url) as broker:
        key, raw = pop_entry(broker, job.queue_name)
        entry = json.loads(raw)
        entry["headers"]["redelivered"] = True
        entry["properties"]["delivery_info"]["redelivered"] = True
        broker.rpush(key, json.dumps(entry))


def test_a_first_delivery_never_counts_as_interrupted(aj_app, aj_job_buffer):
    # Only a message the broker hands out again can follow a run of itself that died.
    class SteadyJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    job = SteadyJob.perform_later()
    ledger_for(aj_app).start(job.job_id, run_id(job.provider_job_id, 0))  # a mark, no redelivery
    with run_worker(aj_app):
        wait_for(lambda: aj_job_buffer.values == [job.job_id], timeout=20)
    assert store_for(aj_app).count() == 0


def test_a_delivery_whose_last_run_never_finished_raises_job_interrupted_error_first(
    aj_app, aj_job_buffer, caplog
):
    class ResumeJob(ApplicationJob):
        retry_on(JobInterruptedError, wait=0, attempts=3, jitter=0)

        def perform(self):
            aj_job_buffer.add((self.job_id, self.executions, dict(self.exception_executions)))

    job = ResumeJob.perform_later()
    _interrupt(aj_app, job)  # its run started, then the process died
    with caplog.at_level(logging.WARNING), run_worker(aj_app):
        wait_for(lambda: aj_job_buffer.values, timeout=20)
    assert aj_job_buffer.values == [(job.job_id, 2, {INTERRUPTED: 1})]
    [warning] = [r.getMessage() for r in caplog.records if "delivered again" in r.getMessage()]
    assert ResumeJob.job_name in warning and job.job_id in warning
    assert job.provider_job_id in warning
    assert store_for(aj_app).count() == 0


def test_without_a_handler_an_interruption_is_an_ordinary_failure(aj_app, aj_job_buffer):
    class PlainJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    job = PlainJob.perform_later()
    _interrupt(aj_app, job)
    with run_worker(aj_app):
        settle(MarkerJob, lambda: aj_job_buffer.values)
    [letter] = store_for(aj_app).list()
    assert (letter.reason, letter.job_id) == ("unhandled", job.job_id)
    assert letter.error_class.endswith("JobInterruptedError")
    assert job.job_id not in aj_job_buffer.values  # perform never ran


def test_the_last_allowed_interruption_makes_a_killed_dead_letter(aj_redis, aj_job_buffer):
    app = make_app(aj_redis.url, activejob_max_interruptions=2)

    class FragileJob(ApplicationJob):
        retry_on(JobInterruptedError, wait=0, attempts=10, jitter=0)

        def perform(self):
            aj_job_buffer.add(self.job_id)

    job = FragileJob.perform_later()
    _interrupt(app, job, times=2)  # started twice, interrupted once: the next start is the 2nd
    store = store_for(app)
    with run_worker(app):
        wait_for(lambda: store.count() == 1, timeout=20)
    [letter] = store.list()
    assert (letter.reason, letter.job_id) == ("killed", job.job_id)
    assert "2 of at most 2" in letter.error_message
    assert aj_job_buffer.values == []
    assert not aj_redis.client.exists(f"activejob:running:{job.job_id}")  # a retry starts afresh
    app.close()


def test_worker_start_warns_when_a_job_may_outlive_the_visibility_timeout(aj_redis, caplog):
    app = make_app(
        aj_redis.url, broker_transport_options={"visibility_timeout": 60}, task_time_limit=600
    )

    class LongReportJob(ApplicationJob):
        def perform(self):
            pass

    with caplog.at_level(logging.WARNING), run_worker(app):
        pass
    [warning] = [r.getMessage() for r in caplog.records if LongReportJob.job_name in r.getMessage()]
    assert "600 s (task_time_limit)" in warning and "visibility_timeout (60 s)" in warning
    assert "broker_transport_options['visibility_timeout']" in warning
    app.close()


def test_visibility_warnings_name_timeouts_and_the_eta_path(aj_redis):
    app = make_app(aj_redis.url, activejob_scheduler="celery")

    class NightlyExportJob(ApplicationJob):
        timeout = timedelta(hours=2)
        retry_on(KeyError, wait=7200, attempts=2)

        def perform(self):
            pass

    class QuickJob(ApplicationJob):
        timeout = timedelta(minutes=5)

        def perform(self):
            pass

    warnings = visibility_warnings(app)
    about = [text for text in warnings if NightlyExportJob.job_name in text]
    assert len(about) == 2
    assert (
        "7230 s (its timeout + activejob_timeout_grace)" in about[0]
        and "visibility_timeout (3600 s)" in about[0]
    )
    assert "7200 s between retries" in about[1] and "activejob_scheduler='redis'" in about[1]
    assert not [text for text in warnings if QuickJob.job_name in text]
    eta = "activejob_scheduler='celery' on a Redis broker"
    assert any(text.startswith(eta) for text in warnings)
    app.close()


WINDOW = 10.0
"""Seconds the store stays down while runs are counted."""


def _run_markers_for(window, marker_job, seen):
    """Run marker jobs one after another for ``window`` seconds; how many ran."""
    end = time.monotonic() + window
    markers = 0
    while time.monotonic() < end:
        settle(marker_job, seen, timeout=10)
        markers += 1
    return markers


@pytest.mark.extended
def test_a_failing_job_the_store_cannot_take_backs_off(aj_redis, aj_job_buffer, aj_down_store):
    app = app_with_store(aj_redis.url, aj_down_store.url(0))

    class PoisonJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)
            raise KeyError("poison")

    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    with run_worker(app):
        job = PoisonJob.perform_later()
        wait_for(lambda: job.job_id in aj_job_buffer.values, timeout=20)
        markers = _run_markers_for(WINDOW, MarkerJob, lambda: aj_job_buffer.values)
        runs = aj_job_buffer.values.count(job.job_id)
        aj_down_store.start()
        store = store_for(app)
        wait_for(lambda: store.count() == 1, timeout=60, message="the job kept")
    print(f"store down {WINDOW:.0f} s: {runs} runs, {markers} other jobs ran")
    # Backing off 1, 2, 4, 8 s gives about 4 runs; a fixed 1 s pause gives 7 to 10.
    assert 2 <= runs < 6
    assert markers >= 2
    [letter] = store.list()
    assert (letter.reason, letter.job_id) == ("unhandled", job.job_id)
    app.close()


@pytest.mark.extended
def test_a_message_the_store_cannot_take_is_held_without_stopping_the_consumer(
    aj_redis, aj_job_buffer, aj_down_store, caplog
):
    app = app_with_store(aj_redis.url, aj_down_store.url(0))

    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    quiet = caplog.at_level(logging.CRITICAL, logger="activejob_celery.dead_letters")
    with quiet, run_worker(app):
        app.send_task(
            "shop.jobs.GoneJob", args=(job_payload("shop.jobs.GoneJob"),), queue="default"
        )
        wait_for(lambda: caplog.records, timeout=20)
        markers = _run_markers_for(WINDOW, MarkerJob, lambda: aj_job_buffer.values)
        tries = sum("as a dead letter" in record.getMessage() for record in caplog.records)
        aj_down_store.start()
        store = store_for(app)
        wait_for(lambda: store.count() == 1, timeout=60, message="the message kept")
    print(f"store down {WINDOW:.0f} s: {tries} tries to store, {markers} other jobs ran")
    # Held on the consumer's timer 1, 2, 4, 8 s: about 4 tries; requeued after 1 s each: 8 to 10.
    assert 1 <= tries < 6
    assert markers >= 2
    [letter] = store.list()
    assert (letter.reason, letter.job_class) == ("unknown_job_class", "shop.jobs.GoneJob")
    app.close()


class CountingRedis(redis.Redis):
    """Counts the commands it sends (each one round trip here: no pipelines)."""

    sent = 0

    def execute_command(self, *args, **options):
        self.sent += 1
        return super().execute_command(*args, **options)


def test_a_runs_mark_is_cleared_with_the_next_start_in_one_round_trip(aj_redis):
    client = CountingRedis.from_url(aj_redis.url)
    ledger = Ledger(client, Settings())
    assert ledger.start("job-1", "task-a") == Start(interrupted=False, interruptions=0)
    ledger.finish_later("job-1", "task-a", done=True)
    assert client.exists(ledger.key("job-1"))  # still there until the next start
    before = client.sent
    assert ledger.start("job-2", "task-b") == Start(interrupted=False, interruptions=0)
    assert client.sent - before == 1  # one script: job-1's mark cleared, job-2's set
    assert not client.exists(ledger.key("job-1"))
    # A first delivery's mark is written without waiting for its reply (no command through
    # the client's pool); it is in Redis before the next command on that connection returns.
    before = client.sent
    assert ledger.start("job-3", "task-c", redelivered=False) == Start(False, 0)
    assert client.sent == before
    ledger.flush()
    assert client.hget(ledger.key("job-3"), "task") == b"task-c"
    assert ledger.start("job-3", "task-c") == Start(interrupted=True, interruptions=1)
    # A handled error (re-enqueued): the count stays, the task is cleared; flushed now.
    ledger.finish_later("job-2", "task-b", done=False)
    ledger.flush()
    assert client.hget(ledger.key("job-2"), "task") is None
    assert ledger.start("job-2", "task-b") == Start(interrupted=False, interruptions=0)
    client.close()
