"""perform_later through a real Redis and a real in-process worker; the payload on the wire."""

from __future__ import annotations

import base64
import json
from typing import Any

from activejob_celery import ApplicationJob, queue_as
from tests.support.payloads import PAYLOAD_KEYS
from tests.support.worker import run_worker, wait_for


def _messages(client: Any, queue: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def _payload(message: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(base64.b64decode(message["body"]))
    args, kwargs, _embed = body
    assert kwargs == {}
    assert len(args) == 1
    return args[0]


def test_perform_later_runs_on_a_real_worker(aj_app, aj_redis, aj_job_buffer):
    class RoundTripJob(ApplicationJob):
        def perform(self, number, *, tag):
            aj_job_buffer.add((number, tag, self.executions, self.job_id))

    with run_worker(aj_app):
        job = RoundTripJob.perform_later(42, tag="hi")
        assert job.successfully_enqueued
        wait_for(lambda: aj_job_buffer.values, timeout=15)
    assert aj_job_buffer.values == [(42, "hi", 1, job.job_id)]


def test_payload_on_the_wire_has_every_rails_key_in_order(aj_app, aj_redis):
    class WireJob(ApplicationJob):
        queue_as("wire")

        def perform(self, *args, **kwargs):
            pass

    job = WireJob.set(priority=3).perform_later(1, "two", flag=True)
    [message] = _messages(aj_redis.client, "wire\x06\x164")  # priority 3: the fifth list
    payload = _payload(message)
    assert tuple(payload) == PAYLOAD_KEYS
    assert payload["job_class"] == WireJob.job_name
    assert payload["job_id"] == job.job_id
    assert payload["provider_job_id"] == job.provider_job_id == message["headers"]["id"]
    assert payload["queue_name"] == "wire"
    assert payload["priority"] == 3
    assert payload["arguments"] == [1, "two", {"flag": True, "_aj_kwargs": ["flag"]}]
    assert payload["executions"] == 0
    assert payload["exception_executions"] == {}
    assert message["headers"]["task"] == WireJob.job_name
    assert message["properties"]["priority"] == 4
    assert message["properties"]["delivery_info"]["routing_key"] == "wire"
