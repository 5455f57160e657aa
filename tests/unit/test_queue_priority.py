"""``queue_with_priority``: static and dynamic sources, ``set(priority=)``, the Celery mapping."""

from __future__ import annotations

import pytest
from celery import Celery

from activejob_celery import ApplicationJob, ConfigurationError, queue_with_priority
from activejob_celery.priority_buckets import amqp_level, ranges, rank
from activejob_celery.queue_priority import (
    CELERY_PRIORITY_MAX,
    CELERY_PRIORITY_MIN,
    celery_priority,
)
from tests.support.fixtures import make_app


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
        (-100, 0),
        (-1, 0),
        (None, 1),
        (0, 1),
        (1, 2),
        (4, 5),
        (5, 6),
        (9, 6),
        (10, 7),
        (19, 7),
        (20, 8),
        (49, 8),
        (50, 9),
        (10**9, 9),
    ],
)
def test_celery_priority_maps_ranges_onto_the_ten_redis_lists_lower_first(priority, expected):
    """DESIGN §8: negative before 0 (and None) before positive; init_app's ten steps."""
    assert celery_priority(priority) == expected


def test_celery_priority_keeps_the_order_of_every_job_priority():
    assert (CELERY_PRIORITY_MIN, CELERY_PRIORITY_MAX) == (0, 9)
    values = [celery_priority(p) for p in range(-50, 2000)]
    assert values == sorted(values), "the mapping must keep the order of job priorities"
    assert celery_priority(-10) < celery_priority(None) == celery_priority(0) < celery_priority(5)
    assert celery_priority(5) < celery_priority(10)


def _redis_app(**conf):
    app = Celery("aj_prio", broker="redis://127.0.0.1:9/0", set_as_current=False)
    app.conf.update(conf)
    return app


def test_celery_priority_uses_the_apps_priority_steps():
    """kombu's own default steps (0, 3, 6, 9): four lists, still negative < 0 < positive."""
    app = _redis_app(broker_transport_options={"priority_steps": [0, 3, 6, 9]})
    assert [celery_priority(p, app, "q") for p in (-10, None, 0, 1, 5, 10)] == [0, 3, 3, 6, 9, 9]
    steps_over_nine = _redis_app(broker_transport_options={"priority_steps": [0, 5, 10, 20]})
    assert [celery_priority(p, steps_over_nine, "q") for p in (-1, 0, 1)] == [0, 5, 5]


def test_none_is_left_to_celerys_task_default_priority_when_it_is_set():
    app = _redis_app(task_default_priority=4)
    assert celery_priority(None, app, "q") is None
    assert celery_priority(0, app, "q") == 1


def test_every_level_takes_the_documented_range():
    assert ranges(10) == [
        (None, -1), (0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 9), (10, 19), (20, 49), (50, None),
    ]  # fmt: skip
    for levels in range(1, 14):
        for index, (low, high) in enumerate(ranges(levels)):
            for value in (low, high):
                if value is not None:
                    assert rank(value, levels) == index, (levels, value)


def test_amqp_levels_keep_the_order_higher_first():
    assert [amqp_level(p, 10) for p in (-10, None, 0, 5, 10, 100)] == [10, 9, 9, 4, 3, 0]
    levels = [amqp_level(p, 10) for p in range(-20, 500)]
    assert levels == sorted(levels, reverse=True)


# --- a priority defined on the job class (GoodJob's `def priority; -10; end`) ---


def test_a_priority_method_on_the_job_class_is_honoured(aj_adapter):
    """Issue 22: before, the job was never enqueued (``int()`` of a bound method)."""

    class ImportantJob(ApplicationJob):
        def priority(self) -> int:
            return -10

        def perform(self, data):
            pass

    job = ImportantJob.perform_later({"a": 1})
    assert job.successfully_enqueued, job.enqueue_error
    assert job.priority == -10
    assert aj_adapter.enqueued_jobs[0]["priority"] == -10
    assert celery_priority(job.priority) == 0


def test_a_priority_property_or_class_value_is_honoured(aj_adapter):
    class PropertyJob(ApplicationJob):
        @property
        def priority(self) -> int:
            return len(self.arguments)

        def perform(self, *args):
            pass

    class ValueJob(ApplicationJob):
        priority = -10  # Rails' `self.priority = -10`

        def perform(self):
            pass

    class InheritingJob(PropertyJob):
        pass

    assert PropertyJob(1, 2, 3).priority == 3
    assert InheritingJob(1).priority == 1
    assert ValueJob().priority == -10
    assert ValueJob.set(priority=4).perform_later().priority == 4  # set() still overrides
    assert [record["priority"] for record in aj_adapter.enqueued_jobs] == [4]
    loaded = ValueJob.deserialize(ValueJob().serialize())
    assert loaded.priority == -10


def test_a_priority_method_returning_a_non_integer_is_a_clear_error_at_enqueue(aj_adapter):
    class VagueJob(ApplicationJob):
        def priority(self):
            return "high"

        def perform(self):
            pass

    with pytest.raises(ConfigurationError, match=r"VagueJob.priority gave 'high'; a priority is"):
        VagueJob.perform_later()
    assert aj_adapter.enqueued_jobs == []


def test_a_non_integer_priority_value_in_the_class_body_is_refused():
    with pytest.raises(ConfigurationError, match=r"BadJob.priority = 'high': a priority is"):

        class BadJob(ApplicationJob):
            priority = "high"

            def perform(self):
                pass


def test_too_few_redis_priority_steps_warn_once_at_init_app_naming_the_setting(caplog):
    with caplog.at_level("WARNING", logger="activejob_celery.priority_buckets"):
        fine = make_app("redis://127.0.0.1:9/0")
        assert caplog.records == []
        two = make_app(
            "redis://127.0.0.1:9/0", broker_transport_options={"priority_steps": [0, 9, 12]}
        )
    [record] = caplog.records
    message = record.getMessage()
    assert "broker_transport_options['priority_steps'] = [0, 9, 12]" in message
    assert "2 usable Redis priority lists" in message and "below 0, 0 and up" in message
    assert [celery_priority(p, two, "q") for p in (-1, None, 7)] == [0, 9, 9]
    fine.close()
    two.close()
