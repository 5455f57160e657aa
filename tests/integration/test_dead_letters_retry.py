"""Retrying from the store on a real worker, and failures the store cannot take."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from activejob_celery import ApplicationJob, EnqueueError, discard_on, init_app, retry_on, signals
from activejob_celery.dead_letters import store_for
from activejob_celery.rescue import exception_key
from tests.integration.dead_letters_support import job_payload, settle
from tests.support.fixtures import make_app
from tests.support.redis_server import RedisServer
from tests.support.worker import run_worker, wait_for


class FlakyError(Exception):
    pass


FLAKY_KEY = exception_key((FlakyError,))  # "[tests.integration....FlakyError]"


def test_retry_runs_the_job_again_with_reset_counters_and_removes_the_record(aj_app, aj_job_buffer):
    fixed: list[bool] = []

    class FlakyJob(ApplicationJob):
        retry_on(FlakyError, wait=0, attempts=2, jitter=0)

        def perform(self, sku):
            aj_job_buffer.add((sku, self.job_id, self.executions, dict(self.exception_executions)))
            if not fixed:
                raise FlakyError("supplier down")

    store = store_for(aj_app)
    retried: list[tuple[str, str]] = []

    def on_retried(sender, dead_letter, provider_job_id, **extra):
        retried.append((dead_letter.id, provider_job_id))

    signals.dead_letter_retried.connect(on_retried, weak=False)
    try:
        with run_worker(aj_app):
            job = FlakyJob.perform_later("sku-1")
            wait_for(lambda: store.count() == 1, timeout=30)
            [letter] = store.list()
            assert (letter.reason, letter.attempts) == ("exhausted", 2)
            assert letter.payload["exception_executions"] == {FLAKY_KEY: 1}
            fixed.append(True)
            task_id = store.retry(letter.id)
            wait_for(lambda: len(aj_job_buffer.values) == 3, timeout=20)
    finally:
        signals.dead_letter_retried.disconnect(on_retried)
    assert aj_job_buffer.values == [
        ("sku-1", job.job_id, 1, {}),
        ("sku-1", job.job_id, 2, {FLAKY_KEY: 1}),
        ("sku-1", job.job_id, 1, {}),  # the retry: same job_id, counters reset
    ]
    assert store.count() == 0
    assert retried == [(letter.id, task_id)]
    assert task_id != letter.id


def test_bulk_retry_works_in_batches(aj_app, aj_job_buffer):
    failing: list[bool] = [True]

    class ReportJob(ApplicationJob):
        def perform(self, number):
            if failing:
                raise KeyError(number)
            aj_job_buffer.add(number)

    store = store_for(aj_app)
    with run_worker(aj_app):
        for number in range(5):
            ReportJob.perform_later(number)
        wait_for(lambda: store.count() == 5, timeout=30)
        failing.clear()
        progress: list[int] = []
        result = store.retry_many(
            store.ids(job_class="ReportJob"), batch_size=2, progress=progress.append
        )
        wait_for(lambda: len(aj_job_buffer.values) == 5, timeout=30)
    assert progress == [2, 2, 1]
    assert sorted(aj_job_buffer.values) == [0, 1, 2, 3, 4]
    assert len(result.retried) == 5 and result.failed == {}
    assert store.count() == 0


def test_a_record_stays_when_the_broker_refuses_the_retry(aj_redis):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = app_with_store(
        f"redis://127.0.0.1:{closed_port}/0",
        aj_redis.url,
        broker_connection_timeout=0.5,
        task_publish_retry=False,
    )
    store = store_for(app)
    payload = job_payload("shop.jobs.SomeJob")
    from activejob_celery.dead_letters.recorder import letter_for_failure

    letter = letter_for_failure(
        payload, KeyError("x"), reason="unhandled", job=None, letter_id="kept", raw_max_bytes=100
    )
    store.record(letter)
    with pytest.raises(EnqueueError, match="Error while publishing dead letter kept"):
        store.retry("kept")
    assert store.get("kept") == letter
    app.close()


def app_with_store(broker_url: str, store_url: str, **conf: object):
    # make_app points dead letters at the broker; init_app again picks the other store.
    app = make_app(broker_url, **conf)
    app.conf.activejob_dead_letters_url = store_url
    init_app(app)
    return app


@pytest.fixture
def aj_down_store(tmp_path):
    server = RedisServer(workdir=tmp_path)
    server.start()
    server.stop()  # the port is kept: the URL works again after start()
    yield server
    server.close()


def test_a_failure_the_store_cannot_take_is_requeued_and_kept_once_it_is_back(
    aj_redis, aj_job_buffer, aj_down_store, caplog
):
    app = app_with_store(aj_redis.url, aj_down_store.url(0))

    class PoisonJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)
            raise KeyError("poison")

    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    store = store_for(app)
    with caplog.at_level(logging.WARNING), run_worker(app):
        job = PoisonJob.perform_later()
        app.send_task(
            "shop.jobs.GoneJob", args=(job_payload("shop.jobs.GoneJob"),), queue="default"
        )
        # The job ran, the store refused, the message came back and ran again.
        wait_for(lambda: aj_job_buffer.values.count(job.job_id) >= 2, timeout=30)
        aj_down_store.start()
        wait_for(lambda: store.count() == 2, timeout=30)
        runs = aj_job_buffer.values.count(job.job_id)
        settle(MarkerJob, lambda: aj_job_buffer.values)
    assert aj_job_buffer.values.count(job.job_id) == runs  # recorded: no further runs
    assert {(letter.reason, letter.job_class) for letter in store.list()} == {
        ("unhandled", PoisonJob.job_name),
        ("unknown_job_class", "shop.jobs.GoneJob"),
    }
    critical = [record for record in caplog.records if record.levelno == logging.CRITICAL]
    assert any("Could not store dead letter" in record.getMessage() for record in critical)
    assert any("as a dead letter" in record.getMessage() for record in critical)
    app.close()


def test_a_discard_the_store_cannot_take_is_logged_in_full(
    aj_redis, aj_job_buffer, aj_down_store, caplog
):
    app = app_with_store(aj_redis.url, aj_down_store.url(0))

    class ReceiptJob(ApplicationJob):
        discard_on(LookupError, dead_letter=True)

        def perform(self, order_id):
            raise LookupError(f"order {order_id} does not exist")

    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    with caplog.at_level(logging.CRITICAL, logger="activejob_celery.dead_letters"), run_worker(app):
        job = ReceiptJob.perform_later(99)
        settle(MarkerJob, lambda: aj_job_buffer.values)
    [record] = [each for each in caplog.records if each.levelno == logging.CRITICAL]
    message = record.getMessage()
    assert "Could not store discarded job" in message
    kept = json.loads(message.split("Record: ", 1)[1])
    assert (kept["job_id"], kept["reason"]) == (job.job_id, "discarded")
    assert kept["payload"]["arguments"] == [99]
    app.close()
