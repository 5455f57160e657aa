"""Queue and priority routing on a real Redis broker: a lower priority number runs first."""

from __future__ import annotations

from activejob_celery import ApplicationJob, queue_as, queue_with_priority
from tests.support.broker_lists import queue_length
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
    """One job per Redis list of init_app's ten steps (docs/jobs-and-queues.md table)."""

    class RankedJob(ApplicationJob):
        queue_as("ranked")

        def perform(self, priority):
            aj_job_buffer.add(priority)

    one_per_list = [-5, 0, 1, 2, 3, 4, 7, 15, 30, 500]
    for priority in (15, 0, 500, 3, -5, 1, 30, 2, 7, 4):
        RankedJob.set(priority=priority).perform_later(priority)

    with run_worker(aj_app, queues=["ranked"]):
        wait_for(lambda: len(aj_job_buffer.values) == 10, timeout=30)
    assert aj_job_buffer.values == one_per_list


def test_priorities_run_lowest_first_across_the_whole_range(aj_app, aj_job_buffer, aj_quiet_logs):
    """Issue 22 / DESIGN §8: -10, then None and 0 (tied: Rails reads None as 0), then 5, 10,
    on one queue, all enqueued before the worker starts (solo pool, prefetch 1)."""

    class AnyPriorityJob(ApplicationJob):
        queue_as("whole_range")

        def perform(self, label):
            aj_job_buffer.add(label)

    class MethodPriorityJob(ApplicationJob):
        queue_as("whole_range")

        def priority(self) -> int:  # GoodJob's guide: `def priority; -10; end`
            return -10

        def perform(self, label):
            aj_job_buffer.add(label)

    for label, priority in [("5", 5), ("None", None), ("10", 10), ("0", 0)]:
        assert AnyPriorityJob.set(priority=priority).perform_later(label).successfully_enqueued
    assert MethodPriorityJob.perform_later("-10").successfully_enqueued

    with run_worker(aj_app, queues=["whole_range"], concurrency=1):
        wait_for(lambda: len(aj_job_buffer.values) == 5, timeout=60)
    order = aj_job_buffer.values
    assert order[0] == "-10", order
    assert set(order[1:3]) == {"None", "0"}, order
    assert order[3:] == ["5", "10"], order


def test_queue_as_and_set_queue_route_to_the_named_celery_queues(aj_app, aj_redis):
    class RoutedJob(ApplicationJob):
        queue_as("reports")

        def perform(self):
            pass

    RoutedJob.perform_later()
    RoutedJob.set(queue="urgent").perform_later()
    assert queue_length(aj_redis.client, "reports") == 1
    assert queue_length(aj_redis.client, "urgent") == 1
