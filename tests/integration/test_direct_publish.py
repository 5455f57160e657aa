"""The direct publish path: copies of a Celery-built message, pushed with one held client."""

from __future__ import annotations

import base64
import json

from activejob_celery import ApplicationJob, adapters, perform_all_later, queue_as
from tests.support.broker_lists import SEP, queue_entries, queue_length
from tests.support.worker import run_worker, wait_for


def _messages(client, key):
    """One Redis list when ``key`` names it, else every list of the queue ``key``."""
    raws = client.lrange(key, 0, -1) if SEP in key else queue_entries(client, key)
    return [json.loads(raw) for raw in raws]


def _shape(message):
    return {
        "envelope": sorted(message),
        "headers": sorted(message["headers"]),
        "properties": sorted(message["properties"]),
        "delivery_info": message["properties"]["delivery_info"],
        "priority": message["properties"]["priority"],
    }


def test_a_copy_has_the_shape_of_the_message_celery_built(aj_app, aj_redis):
    class CopiedJob(ApplicationJob):
        queue_as("copies")

        def perform(self, value):
            pass

    adapter = adapters.named_adapter("celery")
    assert adapter.direct is not None and adapter.direct.usable()
    first = CopiedJob.set(priority=4).perform_later(1)  # built by Celery, captured as template
    second = CopiedJob.set(priority=4).perform_later(2)  # a copy
    newest, oldest = _messages(aj_redis.client, "copies\x06\x165")  # priority 4: sixth list
    assert _shape(newest) == _shape(oldest)
    assert oldest["headers"]["id"] == first.provider_job_id
    assert newest["headers"]["id"] == newest["headers"]["root_id"] == second.provider_job_id
    assert newest["properties"]["correlation_id"] == second.provider_job_id
    assert newest["properties"]["delivery_tag"] != oldest["properties"]["delivery_tag"]
    assert newest["headers"]["argsrepr"] == "(2,)"
    # Celery copies the reprs into the properties too; a copy must not carry the template's.
    for name in ("argsrepr", "kwargsrepr"):
        if name in oldest["properties"]:
            assert newest["properties"][name] == newest["headers"][name]
    args, kwargs, embed = json.loads(base64.b64decode(newest["body"]))
    assert args[0]["job_id"] == second.job_id and args[0]["arguments"] == [2]
    assert kwargs == {} and embed == json.loads(base64.b64decode(oldest["body"]))[2]


def test_a_worker_runs_copies_in_priority_order(aj_app, aj_job_buffer, aj_quiet_logs):
    class RankedCopyJob(ApplicationJob):
        queue_as("ranked_copies")

        def perform(self, priority):
            aj_job_buffer.add(priority)

    for priority in (10, 3, 0, 5, 3, 10, -1, 0):  # one Redis list each (0-9 steps)
        RankedCopyJob.set(priority=priority).perform_later(priority)
    with run_worker(aj_app, queues=["ranked_copies"]):
        wait_for(lambda: len(aj_job_buffer.values) == 8, timeout=30)
    assert aj_job_buffer.values == [-1, 0, 0, 3, 3, 5, 10, 10]


def test_publish_signal_receivers_see_every_job(aj_app, aj_redis, aj_publishes):
    class WatchedJob(ApplicationJob):
        def perform(self):
            pass

    jobs = [WatchedJob.perform_later() for _ in range(3)]
    perform_all_later([WatchedJob() for _ in range(2)])
    seen = [headers["id"] for headers in aj_publishes]
    assert seen[:3] == [job.provider_job_id for job in jobs]
    assert len(seen) == 5
    assert queue_length(aj_redis.client, "default") == 5


def test_perform_all_later_pushes_every_job_in_atomic_batches(aj_app, aj_redis, aj_quiet_logs):
    class BulkCopyJob(ApplicationJob):
        queue_as("bulk")

        def perform(self, number):
            pass

    jobs = [BulkCopyJob(number) for number in range(2500)]
    perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)
    assert queue_length(aj_redis.client, "bulk") == 2500
    ids = {message["headers"]["id"] for message in _messages(aj_redis.client, "bulk")}
    assert ids == {job.provider_job_id for job in jobs}


def test_a_job_enqueued_by_a_running_job_is_its_child(aj_app, aj_redis, aj_job_buffer):
    class ChildJob(ApplicationJob):
        queue_as("children")

        def perform(self):
            pass

    class ParentJob(ApplicationJob):
        def perform(self):
            ChildJob.perform_later()  # the template
            ChildJob.perform_later()  # a copy
            aj_job_buffer.add(self.provider_job_id)

    parent = ParentJob.perform_later()
    with run_worker(aj_app):
        wait_for(lambda: aj_job_buffer.values, timeout=20)
    for message in _messages(aj_redis.client, "children"):
        assert message["headers"]["parent_id"] == parent.provider_job_id
        assert message["headers"]["root_id"] == parent.provider_job_id


def test_perform_all_later_sends_one_lpush_per_list_in_enqueue_order(aj_app, aj_redis):
    class FewPushesJob(ApplicationJob):
        queue_as("few_pushes")

        def perform(self, number):
            pass

    client = aj_redis.client
    jobs = [FewPushesJob(n).set(priority=5 * (n % 2)) for n in range(2500)]
    client.config_resetstat()
    perform_all_later(jobs)
    calls = client.info("commandstats")["cmdstat_lpush"]["calls"]
    assert calls <= 3 * 2  # batches of 1 000 x two priority lists, not one LPUSH per job
    for priority, key in ((0, "few_pushes\x06\x161"), (5, "few_pushes\x06\x166")):
        # The consumer pops from the right: the oldest job must sit there, as LPUSH one by one.
        popped_order = [json.loads(raw)["headers"]["id"] for raw in client.lrange(key, 0, -1)][::-1]
        sent = [job.provider_job_id for job in jobs if job.priority == priority]
        assert popped_order == sent
