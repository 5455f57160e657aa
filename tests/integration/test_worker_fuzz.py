"""Fuzzing the worker path: every message, however broken, is a run or exactly one dead letter.

Raw entries are LPUSHed to the queue's Redis list as kombu would (or as nothing would), and
payloads are also handed straight to ``run_payload``. The worker must keep running, and after
each batch ``runs + new dead letters == messages sent``, with the queue and unacked set empty.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from activejob_celery import ApplicationJob, init_app
from activejob_celery.dead_letters import store_for
from activejob_celery.task import run_payload
from tests.integration.dead_letters_support import RawQueue, job_payload, settle, task_body
from tests.support.broker_lists import queue_length
from tests.support.fixtures import make_app
from tests.support.payloads import PAYLOAD_KEYS
from tests.support.worker import run_worker, wait_for

RAW_MAX = 2048
MISSING = object()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Dicts with the argument encoder's reserved keys reach the decoder's error paths.
encoded_arguments = st.dictionaries(
    st.sampled_from(
        ["_aj_serialized", "_aj_globalid", "_aj_kwargs", "_aj_ruby2_keywords", "value"]
    ),
    json_values,
    min_size=1,
    max_size=3,
)
arguments = st.lists(json_values | encoded_arguments, max_size=4)
wrong_values = st.one_of(json_values, st.just(MISSING), st.just("2026-13-45T99:99"))
# Celery headers a producer could get wrong. eta/expires only get values that are not times:
# a real future eta or a past expiry are Celery features (a delay, a revocation), not damage.
not_times = st.sampled_from(["2026-13-45T99:99", "", 0, [1], {}])
header_changes = st.one_of(
    st.tuples(
        st.sampled_from(
            ["task", "timelimit", "shadow", "retries", "root_id", "parent_id", "group",
             "compression", "argsrepr", "ignore_result"]
        ),
        wrong_values,
    ),
    # A string id is a valid id; two equal ones would be one message delivered twice.
    st.tuples(st.just("id"), wrong_values.filter(lambda value: not isinstance(value, str))),
    st.tuples(st.sampled_from(["eta", "expires"]), not_times),
)  # fmt: skip
envelope_changes = st.tuples(
    st.sampled_from(
        ["content-type", "content-encoding", "headers", "properties.delivery_info",
         "properties.body_encoding", "properties.delivery_tag", "properties.priority"]
    ),
    wrong_values,
)  # fmt: skip
content_types = st.sampled_from(
    ["application/json", "application/x-python-serialize", "text/plain", "application/x-yaml"]
)

messages = st.one_of(
    st.tuples(st.just("garbage"), st.binary(max_size=300)),
    st.tuples(st.just("truncated_envelope"), st.floats(min_value=0.0, max_value=0.99)),
    st.tuples(st.just("random_body"), st.binary(max_size=300), content_types),
    st.tuples(st.just("truncated_body"), st.floats(min_value=0.0, max_value=0.99)),
    st.tuples(st.just("json_body"), json_values),
    st.tuples(st.just("wrong_type"), st.sampled_from(PAYLOAD_KEYS), wrong_values),
    st.tuples(st.just("arguments"), arguments),
    st.tuples(st.just("huge"), st.integers(min_value=100_000, max_value=2_000_000), st.booleans()),
    st.tuples(st.just("unknown_task"), st.booleans()),
    st.tuples(st.just("header"), header_changes),
    st.tuples(st.just("envelope"), envelope_changes),
)


def mistyped(payload: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    changed = dict(payload)
    if value is MISSING:
        changed.pop(key, None)
    else:
        changed[key] = value
    return changed


class FuzzTarget:
    """Builds one queue entry per drawn message for the fuzz job."""

    def __init__(self, raw: RawQueue, job_name: str) -> None:
        self.raw = raw
        self.job_name = job_name

    def payload(self, *arguments: Any) -> dict[str, Any]:
        return job_payload(self.job_name, *arguments)

    def entry(self, drawn: tuple[Any, ...]) -> dict[str, Any] | bytes | str:
        kind, *rest = drawn
        envelope = self.raw.envelope
        if kind == "garbage":
            return rest[0]
        if kind == "truncated_envelope":
            text = json.dumps(envelope(task_body(self.payload()), task=self.job_name))
            return text[: int(len(text) * rest[0])]
        if kind == "random_body":
            return envelope(rest[0], task=self.job_name, content_type=rest[1])
        if kind == "truncated_body":
            body = task_body(self.payload("x" * 50))
            return envelope(body[: int(len(body) * rest[0])], task=self.job_name)
        if kind == "json_body":
            return envelope(json.dumps(rest[0]).encode(), task=self.job_name)
        if kind == "wrong_type":
            payload = mistyped(self.payload(1), rest[0], rest[1])
            return envelope(task_body(payload), task=self.job_name)
        if kind == "arguments":
            payload = self.payload()
            payload["arguments"] = rest[0]
            return envelope(task_body(payload), task=self.job_name)
        if kind == "huge":
            size, malformed = rest
            payload = self.payload("x" * size)
            if malformed:
                payload["job_id"] = 12345
            return envelope(task_body(payload), task=self.job_name)
        if kind in ("header", "envelope"):
            (key, value) = rest[0]
            message = envelope(task_body(self.payload()), task=self.job_name)
            if kind == "header":
                key = f"headers.{key}"
            *parents, leaf = key.split(".")
            holder = message
            for parent in parents:
                holder = holder[parent]
            if value is MISSING:
                holder.pop(leaf, None)
            else:
                holder[leaf] = value
            return message
        assert kind == "unknown_task"
        name = "shop.jobs.RemovedInThisRelease"
        body = task_body(job_payload(name)) if rest[0] else b"not even json"
        return envelope(body, task=name)


@pytest.fixture
def aj_fuzz(aj_redis, aj_job_buffer):
    app = make_app(aj_redis.url, activejob_dead_letters_raw_max_bytes=RAW_MAX)

    class FuzzJob(ApplicationJob):
        def perform(self, *args, **kwargs):
            aj_job_buffer.add(("run", self.job_id))

    class MarkerJob(ApplicationJob):
        def perform(self):
            aj_job_buffer.add(self.job_id)

    target = FuzzTarget(RawQueue(app, aj_redis.client), FuzzJob.job_name)
    with run_worker(app) as worker:
        yield app, target, MarkerJob, worker
    app.close()


def _runs(buffer: Any) -> int:
    return sum(1 for value in buffer.values if isinstance(value, tuple) and value[0] == "run")


# The worker thread (kombu, Celery) draws from the global `random` while Hypothesis generates
# the next batch; Hypothesis takes that for a strategy using `random`. Ours do not.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(messages, min_size=1, max_size=8))
@pytest.mark.extended
def test_every_queue_entry_is_a_run_or_one_dead_letter(aj_fuzz, aj_redis, aj_job_buffer, batch):
    app, target, marker, _worker = aj_fuzz
    store = store_for(app)
    runs_before, dead_before = _runs(aj_job_buffer), store.count()
    for drawn in batch:
        event(f"message: {drawn[0]}")
        target.raw.push(target.entry(drawn))
    settle(marker, lambda: aj_job_buffer.values, timeout=60)
    runs = _runs(aj_job_buffer) - runs_before
    dead = store.count() - dead_before
    assert runs + dead == len(batch), (runs, dead, batch)
    assert queue_length(aj_redis.client, "default") == 0
    wait_for(lambda: aj_redis.client.hlen("unacked") == 0, timeout=10)
    for letter in store.list(limit=dead):
        event(f"dead letter: {letter.reason}")
    for letter in store.list(reason="malformed_message"):
        assert letter.payload.get("raw_size", 0) <= RAW_MAX or letter.payload["truncated"]
        assert len(letter.payload["raw"]) <= RAW_MAX * 4 // 3 + 4


@pytest.fixture
def aj_direct(aj_redis, aj_job_buffer):
    app = make_app(aj_redis.url)
    app.conf.activejob_dead_letters_url = f"memory://fuzz-{uuid.uuid4()}"
    app.conf.activejob_dead_letters_raw_max_bytes = RAW_MAX
    init_app(app)

    class DirectJob(ApplicationJob):
        def perform(self, *args, **kwargs):
            aj_job_buffer.add(("run", self.job_id))

    yield store_for(app), DirectJob
    app.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.lists(st.tuples(st.sampled_from(PAYLOAD_KEYS), wrong_values), max_size=3),
    arguments=arguments,
    huge=st.integers(min_value=0, max_value=1_500_000),
)
def test_every_direct_run_payload_call_is_a_run_or_one_dead_letter(
    aj_direct, aj_job_buffer, changes, arguments, huge
):
    store, job_class = aj_direct
    payload = job_payload(job_class.job_name, *arguments, "y" * huge)
    for key, value in changes:
        payload = mistyped(payload, key, value)
    runs_before, dead_before = _runs(aj_job_buffer), store.count()
    try:
        run_payload(payload)
    except Exception as error:
        event(f"raised {type(error).__name__}")
        assert store.count() == dead_before + 1
        assert _runs(aj_job_buffer) == runs_before
        [letter] = store.list(limit=1)
        event(f"dead letter: {letter.reason}")
        if letter.reason == "malformed_message":
            assert letter.payload["raw_size"] > RAW_MAX or not letter.payload["truncated"]
            assert len(letter.payload["raw"].encode()) <= RAW_MAX
    else:
        event("ran")
        assert _runs(aj_job_buffer) == runs_before + 1
        assert store.count() == dead_before
