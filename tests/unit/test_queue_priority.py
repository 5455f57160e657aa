"""``queue_with_priority``: static and dynamic sources, ``set(priority=)``, the Celery mapping."""

from __future__ import annotations

import pytest

from activejob_celery import ApplicationJob, ConfigurationError, queue_with_priority
from activejob_celery.queue_priority import (
    CELERY_PRIORITY_MAX,
    CELERY_PRIORITY_MIN,
    celery_priority,
)


def test_no_priority_by_default_and_the_setting_supplies_one(aj_settings):
    class PlainJob(ApplicationJob):
        def perform(self):
            pass

    assert PlainJob().priority is None
    aj_settings(default_priority=6)
    assert PlainJob().priority == 6


def test_static_priority():
    class UrgentJob(ApplicationJob):
        queue_with_priority(0)

        def perform(self):
            pass

    assert UrgentJob().priority == 0
    assert UrgentJob().serialize()["priority"] == 0


def test_dynamic_priority_from_a_callable_or_a_decorated_method():
    class CallableJob(ApplicationJob):
        queue_with_priority(lambda job: 1 if job.keyword_arguments.get("vip") else 8)

        def perform(self, *, vip=False):
            pass

    class MethodJob(ApplicationJob):
        @queue_with_priority
        def rank(self):
            return len(self.arguments)

        def perform(self, *args):
            pass

    assert CallableJob(vip=True).priority == 1
    assert CallableJob().priority == 8
    assert MethodJob("a", "b", "c").priority == 3


def test_dynamic_priority_is_evaluated_once_per_job():
    calls = []

    class CountedJob(ApplicationJob):
        @queue_with_priority
        def rank(self):
            calls.append(1)
            return 4

        def perform(self):
            pass

    job = CountedJob()
    assert calls == []
    assert (job.priority, job.priority) == (4, 4)
    assert calls == [1]


def test_dynamic_priority_may_return_none():
    class MaybeJob(ApplicationJob):
        queue_with_priority(lambda job: None)

        def perform(self):
            pass

    assert MaybeJob().priority is None


def test_set_priority_overrides_without_evaluating_and_converts_to_int(aj_adapter):
    class SourceJob(ApplicationJob):
        @queue_with_priority
        def rank(self):
            raise AssertionError("must not be evaluated")

        def perform(self):
            pass

    job = SourceJob.set(priority="2").perform_later()
    assert job.priority == 2
    assert aj_adapter.enqueued_jobs[0]["priority"] == 2
    direct = SourceJob()
    direct.priority = 7.9
    assert direct.priority == 7
    direct.priority = None
    assert direct.priority is None


@pytest.mark.parametrize("source", ["5", 1.5, True, [1]])
def test_queue_with_priority_rejects_other_types(source):
    with pytest.raises(ConfigurationError, match="give an integer, a callable or decorate"):

        class BadJob(ApplicationJob):
            queue_with_priority(source)

            def perform(self):
                pass


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (None, None),
        (0, 0),
        (1, 1),
        (5, 5),
        (9, 9),
        (10, 9),
        (100, 9),
        (-1, 0),
        (-100, 0),
    ],
)
def test_celery_priority_clamps_onto_zero_to_nine_lower_first(priority, expected):
    assert celery_priority(priority) == expected


def test_celery_priority_range_constants():
    assert (CELERY_PRIORITY_MIN, CELERY_PRIORITY_MAX) == (0, 9)
    values = [celery_priority(p) for p in range(-5, 15)]
    assert values == sorted(values), "the mapping must keep the order of job priorities"
