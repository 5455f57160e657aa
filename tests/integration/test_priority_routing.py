"""Queue and priority routing on a real Redis broker: a lower priority number runs first."""

from __future__ import annotations

from activejob_celery import ApplicationJob, queue_as, queue_with_priority
from tests.support.worker import run_worker, wait_for


def test_a_priority_0_job_enqueued_after_50_priority_9_jobs_runs_among_the_first(
    aj_app, aj_job_buffer, aj_quiet_logs
):
    class BulkJob(ApplicationJob):
        queue_as("mixed")
        queue_with_priority(9)

        def perform(self, label):
            aj_job_buffer.add(label)

    for number in range(50):
        assert BulkJob.perform_later(f"low-{number}").successfully_enqueued
    assert BulkJob.set(priority=0).perform_later("urgent").successfully_enqueued

    with run_worker(aj_app, queues=["mixed"]):
        wait_for(lambda: len(aj_job_buffer.values) == 51, timeout=60)

    order = aj_job_buffer.values
    assert order.index("urgent") < 3, order[:10]
    lows = [label for label in order if label != "urgent"]
    assert lows == [f"low-{number}" for number in range(50)]  # FIFO inside one priority


def test_every_priority_bucket_is_consumed_in_order(aj_app, aj_job_buffer, aj_quiet_logs):
    class RankedJob(ApplicationJob):
        queue_as("ranked")

        def perform(self, priority):
            aj_job_buffer.add(priority)

    for priority in (9, 0, 5, 3, 7, 1, 8, 2, 6, 4):
        RankedJob.set(priority=priority).perform_later(priority)

    with run_worker(aj_app, queues=["ranked"]):
        wait_for(lambda: len(aj_job_buffer.values) == 10, timeout=30)
    assert aj_job_buffer.values == list(range(10))


def test_queue_as_and_set_queue_route_to_the_named_celery_queues(aj_app, aj_redis):
    class RoutedJob(ApplicationJob):
        queue_as("reports")

        def perform(self):
            pass

    RoutedJob.perform_later()
    RoutedJob.set(queue="urgent").perform_later()
    assert aj_redis.client.llen("reports") == 1
    assert aj_redis.client.llen("urgent") == 1
