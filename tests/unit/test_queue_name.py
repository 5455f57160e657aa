"""``queue_as``: static, callable and decorated sources, laziness, prefix and ``set(queue=)``."""

from __future__ import annotations

import pytest

from activejob_celery import Abort, ApplicationJob, ConfigurationError, before_enqueue, queue_as
from activejob_celery.queue_name import queue_name_from_part


def test_without_queue_as_the_default_queue_is_used(aj_settings):
    class PlainJob(ApplicationJob):
        def perform(self):
            pass

    assert PlainJob().queue_name == "default"
    aj_settings(default_queue_name="jobs")
    # The default is itself lazy: the setting in force when the queue is first read.
    assert PlainJob().queue_name == "jobs"


def test_static_queue_name():
    class LowJob(ApplicationJob):
        queue_as("low_priority")

        def perform(self):
            pass

    assert LowJob().queue_name == "low_priority"


def test_queue_as_none_means_default_and_empty_string_is_kept():
    class NoneJob(ApplicationJob):
        queue_as(None)

        def perform(self):
            pass

    class BlankJob(ApplicationJob):
        queue_as("")

        def perform(self):
            pass

    assert NoneJob().queue_name == "default"
    assert BlankJob().queue_name == ""


def test_callable_source_sees_the_job_and_its_arguments():
    class TenantJob(ApplicationJob):
        queue_as(lambda job: f"tenant_{job.arguments[0]}_{job.keyword_arguments['size']}")

        def perform(self, tenant, *, size):
            pass

    assert TenantJob(7, size="xl").queue_name == "tenant_7_xl"


def test_decorated_method_source_returning_none_falls_back_to_default():
    class VipJob(ApplicationJob):
        @queue_as
        def pick_queue(self):
            return "urgent" if self.arguments[0] == "vip" else None

        def perform(self, kind):
            pass

    assert VipJob("vip").queue_name == "urgent"
    assert VipJob("regular").queue_name == "default"


def test_dynamic_queue_is_evaluated_lazily_once_per_job(aj_adapter):
    calls = []

    class LazyJob(ApplicationJob):
        @queue_as
        def pick(self):
            calls.append(list(self.arguments))
            return f"q{len(calls)}"

        @before_enqueue
        def adjust(self):
            # Before callbacks run before the adapter reads the queue (Rails).
            self.arguments.append("added-before-enqueue")

        def perform(self, *args):
            pass

    job = LazyJob(1)
    assert calls == []
    LazyJob.perform_later(1)
    assert calls == [[1, "added-before-enqueue"]]
    assert aj_adapter.enqueued_jobs[0]["queue_name"] == "q1"
    assert job.queue_name == "q2"
    assert job.queue_name == "q2"
    assert len(calls) == 2


def test_set_queue_overrides_without_evaluating_the_source(aj_adapter):
    class NeverAskedJob(ApplicationJob):
        @queue_as
        def pick(self):
            raise AssertionError("the dynamic queue must not be evaluated")

        def perform(self):
            pass

    job = NeverAskedJob.set(queue="chosen").perform_later()
    assert job.queue_name == "chosen"
    assert aj_adapter.enqueued_jobs[0]["queue_name"] == "chosen"
    assert NeverAskedJob().set(queue="direct").queue_name == "direct"


def test_a_halted_enqueue_does_not_evaluate_the_queue(aj_adapter):
    calls = []

    class HaltedJob(ApplicationJob):
        queue_as(lambda job: calls.append(job) or "q")

        @before_enqueue
        def stop(self):
            raise Abort

        def perform(self):
            pass

    # The halted log line names the queue, which is then the first read.
    assert HaltedJob.perform_later() is False
    assert aj_adapter.enqueued_jobs == []


def test_prefix_and_delimiter_apply_to_every_source(aj_settings, aj_adapter):
    class StaticJob(ApplicationJob):
        queue_as("mailers")

        def perform(self):
            pass

    class DynamicJob(ApplicationJob):
        queue_as(lambda job: "dynamic")

        def perform(self):
            pass

    class DefaultJob(ApplicationJob):
        def perform(self):
            pass

    aj_settings(queue_name_prefix="production")
    assert StaticJob().queue_name == "production_mailers"
    assert DynamicJob().queue_name == "production_dynamic"
    assert DefaultJob().queue_name == "production_default"
    assert StaticJob.set(queue="urgent").perform_later().queue_name == "production_urgent"
    aj_settings(queue_name_delimiter=".")
    assert StaticJob().queue_name == "production.mailers"
    job = StaticJob()
    job.queue_name = "manual"
    assert job.queue_name == "production.manual"


def test_blank_prefix_means_no_prefix(aj_settings):
    aj_settings(queue_name_prefix="")
    assert queue_name_from_part("mailers") == "mailers"
    aj_settings(queue_name_prefix=None)
    assert queue_name_from_part(None) == "default"


def test_setting_queue_name_to_none_recomputes_it():
    class ResetJob(ApplicationJob):
        queue_as("computed")

        def perform(self):
            pass

    job = ResetJob()
    job.queue_name = "manual"
    job.queue_name = None
    assert job.queue_name == "computed"


def test_non_string_results_are_converted_to_strings():
    class NumberedJob(ApplicationJob):
        queue_as(lambda job: 5)

        def perform(self):
            pass

    assert NumberedJob().queue_name == "5"


@pytest.mark.parametrize("source", [42, 1.5, ["q"], b"q"])
def test_queue_as_rejects_other_types(source):
    with pytest.raises(ConfigurationError, match="give a queue name, a callable or decorate"):

        class BadJob(ApplicationJob):
            queue_as(source)

            def perform(self):
                pass
