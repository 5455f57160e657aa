"""The direct publish path copies only what it proved identical to what Celery would send."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import zlib

import pytest
from celery import Celery
from kombu import Producer

from activejob_celery import ApplicationJob, adapters, perform_all_later, queue_as
from activejob_celery.errors import ConfigurationError
from activejob_celery.scheduler import scheduled_set_for
from tests.support.broker_lists import queue_entries, queue_length
from tests.support.fixtures import make_app
from tests.support.worker import run_worker, wait_for

# Captured at collection, before any test runs: a test that initialises sentry-sdk with its
# CeleryIntegration (the configuration matrix) wraps these for the rest of the process.
_OWN_PUBLISH = (Celery.send_task, Producer.publish)


@pytest.fixture(autouse=True)
def celerys_own_publish_functions():
    """Run each test with Celery's and kombu's own publish functions, then put back the rest."""
    saved = (Celery.send_task, Producer.publish)
    Celery.send_task, Producer.publish = _OWN_PUBLISH
    yield
    Celery.send_task, Producer.publish = saved


def _messages(client, key, exact=False):
    """The messages of queue ``key`` (every priority list), or of the one list ``key``."""
    raws = client.lrange(key, 0, -1) if exact else queue_entries(client, key)
    return [json.loads(raw) for raw in reversed(raws)]


def _proven(adapter):
    return sum(1 for template in adapter.direct._templates.values() if template is not None)


def test_the_default_configuration_copies_after_two_messages_prove_the_template(aj_app, aj_redis):
    class ProvenJob(ApplicationJob):
        queue_as("proven")

        def perform(self, value):
            pass

    adapter = adapters.named_adapter("celery")
    ProvenJob.perform_later(1)
    assert _proven(adapter) == 0  # one message is no proof
    ProvenJob.perform_later(2)
    assert _proven(adapter) == 1
    jobs = [ProvenJob.perform_later(n) for n in range(3, 6)]
    assert all(job.successfully_enqueued for job in jobs)
    assert queue_length(aj_redis.client, "proven") == 5


def test_gzip_compression_publishes_every_job_through_celery(aj_redis, aj_job_buffer):
    app = make_app(aj_redis.url, task_compression="gzip")

    class SqueezedJob(ApplicationJob):
        queue_as("squeezed")

        def perform(self, value):
            aj_job_buffer.add(value)

    jobs = [SqueezedJob.perform_later(n) for n in range(3)]
    bulk = [SqueezedJob(n) for n in range(3, 6)]
    perform_all_later(bulk)
    assert all(job.successfully_enqueued for job in jobs + bulk)
    for message in _messages(aj_redis.client, "squeezed"):
        assert message["headers"]["compression"] == "application/x-gzip"
        args, _kwargs, _embed = json.loads(zlib.decompress(base64.b64decode(message["body"])))
        assert args[0]["job_class"].endswith("SqueezedJob")
    with run_worker(app, queues=["squeezed"]):
        wait_for(lambda: len(aj_job_buffer.values) == 6, timeout=30)
    assert sorted(aj_job_buffer.values) == list(range(6))
    app.close()


@pytest.fixture
def stamping_send_task():
    """Wrap ``Celery.send_task`` as tracing libraries do: a header that differs on each call."""
    original = Celery.send_task
    counter = itertools.count()

    @functools.wraps(original)
    def send_task(self, *args, **kwargs):
        headers = dict(kwargs.get("headers") or {})
        headers["x-request-id"] = f"request-{next(counter)}"
        kwargs["headers"] = headers
        return original(self, *args, **kwargs)

    Celery.send_task = send_task
    yield
    Celery.send_task = original


def test_a_wrapped_send_task_gives_each_message_its_own_headers(
    aj_app, aj_redis, stamping_send_task
):
    class TracedJob(ApplicationJob):
        queue_as("traced")

        def perform(self):
            pass

    for _ in range(4):
        TracedJob.perform_later()
    perform_all_later([TracedJob() for _ in range(2)])
    seen = [message["headers"]["x-request-id"] for message in _messages(aj_redis.client, "traced")]
    assert seen == [f"request-{n}" for n in range(6)]


def test_a_wrap_installed_after_the_proof_sends_jobs_through_celery_again(aj_app, aj_redis):
    class LateJob(ApplicationJob):
        queue_as("late")

        def perform(self):
            pass

    for _ in range(3):
        LateJob.perform_later()  # proven and copied
    original = Celery.send_task

    @functools.wraps(original)
    def send_task(self, *args, **kwargs):
        kwargs["headers"] = {"x-late": "yes"}
        return original(self, *args, **kwargs)

    Celery.send_task = send_task
    try:
        LateJob.perform_later()
    finally:
        Celery.send_task = original
    newest = _messages(aj_redis.client, "late")[-1]
    assert newest["headers"]["x-late"] == "yes"


def test_task_protocol_1_is_refused_at_init_app(aj_redis):
    with pytest.raises(ConfigurationError, match="task_protocol"):
        make_app(aj_redis.url, task_protocol=1)


def test_compressed_scheduled_entries_can_be_listed(aj_redis):
    app = make_app(aj_redis.url, task_compression="gzip")

    class LaterSqueezedJob(ApplicationJob):
        def perform(self, value):
            pass

    job = LaterSqueezedJob.set(wait=60).perform_later(7)
    [listed] = scheduled_set_for(app).list()
    assert listed.job_id == job.job_id and listed.arguments == [7]
    app.close()


def test_a_copy_is_byte_for_byte_the_message_celery_builds(aj_app):
    class ExactJob(ApplicationJob):
        queue_as("exact")

        def perform(self, *args, **kwargs):
            pass

    adapter = adapters.named_adapter("celery")
    direct = adapter.direct
    ExactJob.set(priority=2).perform_later(1)
    ExactJob.set(priority=2).perform_later(2)
    [template] = [t for t in direct._templates.values() if t is not None]
    job = ExactJob("café ✓", {"k": [1.5, None, True]}, note="ünïcode")
    job.priority = 2
    outgoing = adapter.prepare(job)
    [(key, built)] = direct.builder.build(
        lambda producer: adapter.send_prepared(job, outgoing, producer=producer)
    )
    tag = template.tag_of(built)
    assert key == template.key
    assert template.stamp(outgoing, *direct._context(), delivery_tag=tag) == built


def by_argument(name, args, kwargs, options, task=None, **kw):
    if name.endswith("SplitJob"):
        return {"priority": 5 if args[0]["arguments"][0] == "b" else 0}
    return None


def test_a_router_function_routes_every_job_by_its_arguments(aj_redis):
    make_app(aj_redis.url, task_routes=(by_argument,))

    class SplitJob(ApplicationJob):
        queue_as("split")

        def perform(self, side):
            pass

    for side in ["a", "a", "a", "b", "b", "a"]:
        SplitJob.perform_later(side)

    def sides(key):
        return [
            json.loads(base64.b64decode(message["body"]))[0][0]["arguments"][0]
            for message in _messages(aj_redis.client, key, exact=True)
        ]

    assert sides("split") == ["a", "a", "a", "a"]
    assert sides("split\x06\x165") == ["b", "b"]
