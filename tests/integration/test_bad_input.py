"""Bad input at both ends: refused at enqueue with nothing published; survived at the worker."""

from __future__ import annotations

import logging
import time

import pytest
from kombu import Connection

from activejob_celery import ApplicationJob, EnqueueError, SerializationError
from tests.support.broker_lists import queue_length
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for


class Unserializable:
    pass


class OfflineJob(ApplicationJob):
    def perform(self):
        pass


def test_a_non_serializable_argument_fails_at_enqueue_and_publishes_nothing(aj_app, aj_redis):
    class StrictJob(ApplicationJob):
        def perform(self, thing):
            pass

    with pytest.raises(SerializationError) as raised:
        StrictJob.perform_later(Unserializable())
    message = str(raised.value)
    assert "Unserializable" in message
    assert "add_serializers" in message
    assert queue_length(aj_redis.client, "default") == 0
    assert aj_redis.client.keys("*") == []


def test_broker_down_records_enqueue_error_in_bounded_time(aj_redis_server, caplog):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    make_app(f"redis://127.0.0.1:{closed_port}/0")

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="activejob_celery"):
        job = OfflineJob.perform_later()
    elapsed = time.monotonic() - started
    assert job is not False
    assert job.successfully_enqueued is False
    assert isinstance(job.enqueue_error, EnqueueError)
    assert elapsed < 15, f"enqueue took {elapsed:.1f}s with the broker down"
    assert "Failed enqueuing OfflineJob to Celery(default): EnqueueError" in caplog.text


def _publish_raw(url: str, task_name: str, body: bytes, content_type: str) -> None:
    with Connection(url) as connection:
        producer = connection.Producer()
        producer.publish(
            body,
            routing_key="default",
            exchange="",
            serializer=None,
            content_type=content_type,
            content_encoding="utf-8",
            headers={"task": task_name, "id": "raw-" + str(time.time_ns()), "lang": "py",
                     "argsrepr": "", "kwargsrepr": ""},
            declare=[],
        )  # fmt: skip


def test_the_worker_survives_unknown_classes_malformed_payloads_and_non_json(
    aj_app, aj_redis, aj_job_buffer, caplog
):
    class SurvivorJob(ApplicationJob):
        def perform(self, label):
            aj_job_buffer.add(label)

    good = SurvivorJob(0).serialize()
    unknown = {**good, "job_class": "shop.jobs.RemovedJob"}
    malformed = {**good, "executions": "many"}
    aj_app.send_task(SurvivorJob.job_name, args=(unknown,), queue="default")
    aj_app.send_task(SurvivorJob.job_name, args=(malformed,), queue="default")
    aj_app.send_task(SurvivorJob.job_name, args=("not a payload",), queue="default")
    _publish_raw(aj_redis.url, SurvivorJob.job_name, b"{not json", "application/json")

    with caplog.at_level(logging.INFO), run_worker(aj_app):
        SurvivorJob.perform_later("after the bad ones")
        wait_for(lambda: aj_job_buffer.values, timeout=20)

    assert aj_job_buffer.values == ["after the bad ones"]
    text = caplog.text
    assert "Job failed for good (unknown_job_class)" in text
    assert "'shop.jobs.RemovedJob' is not a registered job class" in text
    assert "Job failed for good (malformed_message)" in text
    assert "'executions' must be a non-negative integer" in text
    assert "expected a JSON object, got str" in text
