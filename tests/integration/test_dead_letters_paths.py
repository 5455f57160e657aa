"""Every failure path of a real worker on real Redis ends in exactly one dead letter."""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

import pytest

from activejob_celery import (
    ApplicationJob,
    DeserializationError,
    after_discard,
    discard_on,
    retry_on,
)
from activejob_celery.dead_letters import store_for
from tests.integration.dead_letters_support import RawQueue, job_payload, settle
from tests.support.worker import run_worker, wait_for

UNPICKLED: list[str] = []


def _unpickled() -> str:
    UNPICKLED.append("executed")
    return "executed"


class Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickled, ())


@pytest.fixture
def aj_marker(aj_job_buffer):
    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    return MarkerJob


@pytest.fixture
def aj_store(aj_app):
    return store_for(aj_app)


def _only(store, reason):
    letters = store.list()
    assert [letter.reason for letter in letters] == [reason], letters
    return letters[0]


def test_an_unhandled_error_is_stored_once_with_payload_and_traceback(
    aj_app, aj_store, aj_job_buffer, aj_marker
):
    class ChargeCardJob(ApplicationJob):
        def perform(self, order_id):
            raise KeyError(f"order {order_id}")

    with run_worker(aj_app):
        job = ChargeCardJob.perform_later(42)
        settle(aj_marker, lambda: aj_job_buffer.values)
    letter = _only(aj_store, "unhandled")
    assert letter.id == job.provider_job_id
    assert (letter.job_id, letter.job_class) == (job.job_id, ChargeCardJob.job_name)
    assert letter.queue_name == "default"
    assert letter.error_class == "KeyError"
    assert letter.error_message == "'order 42'"
    assert letter.attempts == 1
    assert letter.payload["job_id"] == job.job_id
    assert letter.payload["arguments"] == [42]
    assert "in perform" in letter.traceback and "KeyError: 'order 42'" in letter.traceback
    assert letter.retryable


def test_exhausted_retries_without_a_block_are_stored_once(aj_app, aj_store, aj_job_buffer):
    class SyncInventoryJob(ApplicationJob):
        retry_on(TimeoutError, wait=0, attempts=3, jitter=0)

        @after_discard
        def noted(self, error):
            aj_job_buffer.add(("after_discard", self.executions))

        def perform(self):
            raise TimeoutError("warehouse API timed out")

    with run_worker(aj_app):
        job = SyncInventoryJob.perform_later()
        wait_for(lambda: aj_store.count() == 1, timeout=30)
    letter = _only(aj_store, "exhausted")
    assert letter.job_id == job.job_id
    assert letter.attempts == 3
    assert letter.payload["executions"] == 2  # the payload as the third run received it
    assert letter.payload["exception_executions"] == {"[TimeoutError]": 2}
    assert letter.error_class == "TimeoutError"
    assert aj_job_buffer.values == [("after_discard", 3)]


def test_exhausted_retries_with_a_block_and_plain_discards_are_not_stored(
    aj_app, aj_store, aj_job_buffer, aj_marker
):
    class HandledJob(ApplicationJob):
        @retry_on(TimeoutError, wait=0, attempts=1)
        def gave_up(self, error):
            aj_job_buffer.add("block")

        def perform(self):
            raise TimeoutError

    class DroppedJob(ApplicationJob):
        discard_on(ValueError)

        def perform(self):
            raise ValueError("stale")

    with run_worker(aj_app):
        HandledJob.perform_later()
        DroppedJob.perform_later()
        settle(aj_marker, lambda: aj_job_buffer.values)
    assert "block" in aj_job_buffer.values
    assert aj_store.count() == 0


def test_discard_on_with_dead_letter_is_stored_once_even_when_after_discard_raises(
    aj_app, aj_store, aj_job_buffer, aj_marker
):
    class ReceiptJob(ApplicationJob):
        discard_on(LookupError, dead_letter=True)

        def perform(self, order_id):
            raise LookupError(f"order {order_id} does not exist")

    class NoisyReceiptJob(ApplicationJob):
        discard_on(LookupError, dead_letter=True)

        @after_discard
        def explode(self, error):
            raise RuntimeError("after_discard failed")

        def perform(self):
            raise LookupError("gone")

    class QuietNoisyJob(ApplicationJob):
        discard_on(LookupError)

        @after_discard
        def explode(self, error):
            raise RuntimeError("after_discard failed")

        def perform(self):
            raise LookupError("gone")

    with run_worker(aj_app):
        receipt = ReceiptJob.perform_later(7)
        noisy = NoisyReceiptJob.perform_later()
        QuietNoisyJob.perform_later()
        settle(aj_marker, lambda: aj_job_buffer.values)
    letters = {letter.job_id: letter for letter in aj_store.list()}
    assert set(letters) == {receipt.job_id, noisy.job_id}
    assert {letter.reason for letter in letters.values()} == {"discarded"}
    assert letters[receipt.job_id].error_message == "order 7 does not exist"
    assert letters[receipt.job_id].id == receipt.provider_job_id
    assert letters[receipt.job_id].payload["arguments"] == [7]
    assert letters[noisy.job_id].error_class == "LookupError"


def test_an_unhandled_deserialization_error_is_stored(aj_app, aj_store, aj_job_buffer, aj_marker):
    class LoadJob(ApplicationJob):
        def perform(self, thing):
            aj_job_buffer.add(thing)

    class TolerantJob(ApplicationJob):
        discard_on(DeserializationError)

        def perform(self, thing):
            aj_job_buffer.add(thing)

    broken = [{"_aj_serialized": "NoSuchSerializer", "value": 1}]
    with run_worker(aj_app):
        payload = job_payload(LoadJob.job_name, *broken)
        aj_app.send_task(LoadJob.job_name, args=(payload,), queue="default")
        tolerant = job_payload(TolerantJob.job_name, *broken)
        aj_app.send_task(TolerantJob.job_name, args=(tolerant,), queue="default")
        settle(aj_marker, lambda: aj_job_buffer.values)
    letter = _only(aj_store, "deserialization")
    assert letter.job_id == payload["job_id"]
    assert letter.error_class == "activejob_celery.errors.DeserializationError"
    assert letter.payload["arguments"] == broken


def test_an_unknown_job_class_in_the_payload_is_stored_and_retryable(
    aj_app, aj_store, aj_job_buffer, aj_marker
):
    class CarrierJob(ApplicationJob):
        def perform(self):
            pass

    payload = job_payload("shop.jobs.RemovedJob", 1)
    with run_worker(aj_app):
        aj_app.send_task(CarrierJob.job_name, args=(payload,), queue="default")
        settle(aj_marker, lambda: aj_job_buffer.values)
    letter = _only(aj_store, "unknown_job_class")
    assert (letter.job_class, letter.job_id) == ("shop.jobs.RemovedJob", payload["job_id"])
    assert letter.payload == payload
    assert letter.retryable


def test_a_task_name_the_worker_does_not_know_is_kept_and_runs_after_the_deploy(
    aj_app, aj_store, aj_job_buffer, aj_marker
):
    # A rolling deploy: the message names a job class this worker does not have yet.
    payload = job_payload("shop.jobs.RenamedJob", "hello", executions=4)
    with run_worker(aj_app):
        aj_app.send_task("shop.jobs.RenamedJob", args=(payload,), queue="default")
        settle(aj_marker, lambda: aj_job_buffer.values)
    letter = _only(aj_store, "unknown_job_class")
    assert letter.payload == payload
    assert letter.error_class == "activejob_celery.errors.UnknownJobClassError"
    assert letter.attempts == 4

    class RenamedJob(ApplicationJob):
        job_name = "shop.jobs.RenamedJob"

        def perform(self, greeting):
            aj_job_buffer.add((greeting, self.job_id, self.executions))

    with run_worker(aj_app):  # the new release knows the class
        aj_store.retry(letter.id)
        wait_for(lambda: ("hello", payload["job_id"], 1) in aj_job_buffer.values, timeout=20)
    assert aj_store.count() == 0


@pytest.mark.parametrize(
    ("make_args", "detail"),
    [
        (lambda name: (job_payload(name, job_id=5),), "'job_id' must be a string"),
        (lambda name: (job_payload(name, arguments="x"),), "'arguments' must be a list"),
        (lambda name: ("not a payload",), "expected a JSON object, got str"),
        (lambda name: (job_payload(name), job_payload(name)), "exactly one payload argument"),
    ],
    ids=["wrong-type", "arguments-not-a-list", "not-an-object", "two-arguments"],
)
def test_malformed_payloads_are_stored_raw(
    aj_app, aj_store, aj_job_buffer, aj_marker, make_args, detail
):
    class TargetJob(ApplicationJob):
        def perform(self, *args):
            aj_job_buffer.add("ran")

    with run_worker(aj_app):
        aj_app.send_task(TargetJob.job_name, args=make_args(TargetJob.job_name), queue="default")
        settle(aj_marker, lambda: aj_job_buffer.values)
    letter = _only(aj_store, "malformed_message")
    assert detail in letter.error_message
    assert set(letter.payload) >= {"raw", "raw_encoding", "raw_size", "truncated"}
    assert not letter.retryable
    assert "ran" not in aj_job_buffer.values


def test_bodies_that_are_not_job_messages_are_stored_raw_and_never_executed(
    aj_app, aj_redis, aj_store, aj_job_buffer, aj_marker
):
    class TargetJob(ApplicationJob):
        def perform(self, *args):
            aj_job_buffer.add("ran")

    raw = RawQueue(aj_app, aj_redis.client)
    name = TargetJob.job_name
    exploit = pickle.dumps(Exploit())
    sent = {
        raw.push_body(b"{not json", task=name): "DecodeError",
        raw.push_body(json.dumps({"a": 1}).encode(), task=name): "MalformedPayloadError",
        raw.push_body(b"[1, 2]", task=name): "MalformedPayloadError",
        raw.push_body(b"[[1], [], null]", task=name): "MalformedPayloadError",
        raw.push_body(b'["args", {}, null]', task=name): "MalformedPayloadError",
        raw.push_body(exploit, task=name, content_type="application/x-python-serialize"): (
            "ContentDisallowed"
        ),
        raw.push_body(b"[[], {}, {}]", task=None): "ValueError",  # no task header at all
    }
    raw.push(b"\xff\xfe definitely not a message")
    raw.push('{"body": "truncated envel')
    raw.push(json.dumps({"properties": "wrong", "body": "e30="}))
    with run_worker(aj_app):
        settle(aj_marker, lambda: aj_job_buffer.values)
    letters = aj_store.list()
    assert {letter.reason for letter in letters} == {"malformed_message"}
    assert len(letters) == len(sent) + 3
    by_id = {letter.id: letter for letter in letters}
    for task_id, error in sent.items():
        assert by_id[task_id].error_class.endswith(error), by_id[task_id]
    pickled = next(letter for letter in letters if letter.error_class.endswith("ContentDisallowed"))
    assert pickled.payload["raw_encoding"] == "base64"
    assert base64.b64decode(pickled.payload["raw"]) == exploit
    assert UNPICKLED == []
    assert "ran" not in aj_job_buffer.values
    envelopes = [letter for letter in letters if letter.payload.get("envelope")]
    assert len(envelopes) == 3
    assert all(letter.queue_name == "default" for letter in envelopes)


def test_raw_bodies_are_truncated_to_the_configured_size(aj_redis, aj_job_buffer):
    from tests.support.fixtures import make_app

    app = make_app(aj_redis.url, activejob_dead_letters_raw_max_bytes=100)

    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    raw = RawQueue(app, aj_redis.client)
    raw.push(b"x" * 5000)
    with run_worker(app):
        settle(MarkerJob, lambda: aj_job_buffer.values)
    [letter] = store_for(app).list()
    assert letter.payload["raw"] == "x" * 100
    assert (letter.payload["raw_size"], letter.payload["truncated"]) == (5000, True)
    app.close()


def test_broken_headers_and_envelopes_are_stored_and_the_worker_keeps_going(
    aj_app, aj_redis, aj_store, aj_job_buffer, aj_marker
):
    class TargetJob(ApplicationJob):
        def perform(self, *args):
            aj_job_buffer.add("ran")

    raw = RawQueue(aj_app, aj_redis.client)
    body = json.dumps([[job_payload(TargetJob.job_name)], {}, None]).encode()
    changes = [
        ("headers", "timelimit", "x"),  # Celery would stop the worker: "Unrecoverable error"
        ("headers", "eta", ""),  # ditto
        ("headers", "id", 5),
        ("headers", "compression", "application/x-gzip"),  # kombu cannot decompress the body
        ("properties", "delivery_info", None),  # kombu cannot note the delivery
        ("properties", "delivery_tag", [1]),  # ditto
    ]
    for part, key, value in changes:
        message = raw.envelope(body, task=TargetJob.job_name)
        message[part][key] = value
        raw.push(message)
    with run_worker(aj_app):
        settle(aj_marker, lambda: aj_job_buffer.values)
    letters = aj_store.list()
    assert len(letters) == len(changes)
    assert {letter.reason for letter in letters} == {"malformed_message"}
    assert "ran" not in aj_job_buffer.values
    wait_for(lambda: aj_redis.client.hlen("unacked") == 0, timeout=10)
