"""A batch's prepare gives each job what ``CeleryAdapter.prepare`` gives it, kind by kind."""

from __future__ import annotations

import pytest
from celery import Celery

from activejob_celery import ApplicationJob, queue_as
from activejob_celery.adapters.batch import prepare_all
from activejob_celery.adapters.celery import CeleryAdapter


class ShownJob(ApplicationJob):
    queue_as("batch_shown")

    def perform(self, *args, **kwargs):
        pass


class HiddenJob(ApplicationJob):
    queue_as("batch_hidden")
    log_arguments = False

    def perform(self, *args, **kwargs):
        pass


def _comparable(outgoing):
    payload = dict(outgoing.payload)
    payload.pop("enqueued_at")  # the clock moved between the two calls
    payload.pop("provider_job_id")  # each enqueue has its own task id
    return payload, outgoing.priority, outgoing.reprs


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:1/0", "amqp://127.0.0.1:1//"])
def test_prepare_all_matches_prepare_job_by_job(broker):
    adapter = CeleryAdapter(Celery("batch_prepare", broker=broker))
    jobs = [
        ShownJob(1, "two", flag=True),
        ShownJob(2).set(priority=5),
        HiddenJob({"secret": 3}),
        ShownJob(4).set(queue="other", priority=-1),
        HiddenJob(5).set(priority=20),
        ShownJob("x" * 2000),  # cut at Celery's argsrepr_maxsize
    ]
    retry = ShownJob(6)
    retry._retrying, retry._run_task_id = True, "run-task-id"
    reserved = ShownJob(7)
    reserved.__dict__["_reserved_task_id"] = "promised-id"
    jobs += [retry, reserved]

    batch = prepare_all(adapter, jobs)
    batch_ids = [job.provider_job_id for job in jobs]
    reserved.__dict__["_reserved_task_id"] = "promised-id"  # prepare pops it again
    single = []
    for job in jobs:
        job.provider_job_id = None
        single.append(adapter.prepare(job))

    assert batch_ids[-2:] == ["run-task-id", "promised-id"]
    assert len(set(batch_ids)) == len(batch_ids)
    assert [outgoing.task_id for outgoing in batch] == batch_ids
    assert [_comparable(ours) for ours in batch] == [_comparable(theirs) for theirs in single]
    assert single[-2].task_id == "run-task-id" and single[-1].task_id == "promised-id"
    assert batch[2].reprs == {"argsrepr": "[FILTERED]", "kwargsrepr": "[FILTERED]"}
    assert batch[0].reprs == {"argsrepr": "(1, 'two')", "kwargsrepr": "{'flag': True}"}
    assert batch[0].payload["provider_job_id"] == batch[0].task_id
