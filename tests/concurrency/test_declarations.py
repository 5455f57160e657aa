"""The declarations: their checks, keys, inheritance, and the warning when no Redis holds locks."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery

from activejob_celery import (
    ApplicationJob,
    ConfigurationError,
    EnqueueError,
    init_app,
    limits_concurrency,
    unique,
)
from activejob_celery.concurrency import Limit, store_for_app
from tests.support.fixtures import make_app
from tests.support.redis_server import free_port


class Account:
    def __init__(self, id: int) -> None:
        self.id = id


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: limits_concurrency(to=0), "to must be an integer"),
        (
            lambda: limits_concurrency(on_conflict="wait"),
            "on_conflict must be 'block' or 'discard'",
        ),
        (lambda: limits_concurrency(duration=-1), "duration=-1 must be a positive"),
        (lambda: limits_concurrency(key=42), "key must be a string, a callable"),
        (lambda: unique(until="done"), "until must be one of executing, executed"),
        (lambda: unique(on_conflict="replace"), "on_conflict must be 'discard' or 'raise'"),
        (lambda: unique(ttl=timedelta(0)), "must be a positive"),
    ],
)
def test_bad_arguments_say_what_is_allowed(call: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):

        class BadJob(ApplicationJob):
            call()  # type: ignore[operator]


def test_outside_a_class_body_it_says_where_to_call_it() -> None:
    with pytest.raises(ConfigurationError, match="must be called in the body"):
        limits_concurrency(to=2)


def test_keys_follow_solid_queue_and_subclasses_inherit() -> None:
    class ChargeJob(ApplicationJob):
        limits_concurrency(to=3, key=lambda account, amount: account, group="billing")

        def perform(self, account: Account, amount: int) -> None: ...

    class RefundJob(ChargeJob): ...

    class WholeJob(ApplicationJob):
        limits_concurrency(duration=timedelta(seconds=30))

        def perform(self) -> None: ...

    limit = RefundJob._concurrency_limit
    assert isinstance(limit, Limit) and limit.to == 3
    assert limit.key_for(RefundJob(Account(7), 10)) == f"billing/{__name__}.Account/7"
    assert WholeJob._concurrency_limit is not None
    assert WholeJob._concurrency_limit.key_for(WholeJob()) == WholeJob.job_name
    assert WholeJob._concurrency_limit.duration == 30.0

    WholeJob.unique(until="executing")  # the classmethod form
    assert WholeJob._uniqueness is not None and WholeJob._uniqueness.until == "executing"
    first, second = (
        WholeJob._uniqueness.key_for(WholeJob()),
        WholeJob._uniqueness.key_for(WholeJob()),
    )
    assert first == second and first.startswith(f"{WholeJob.job_name}/default/")


def test_without_a_redis_the_locks_are_off_and_a_warning_names_the_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Celery("aj_amqp", broker="amqp://guest@127.0.0.1:1//", set_as_current=False)
    init_app(app)
    with caplog.at_level(logging.WARNING, logger="activejob_celery.concurrency"):
        assert store_for_app(app) is None
        assert store_for_app(app) is None
    warnings = [
        r.getMessage() for r in caplog.records if "activejob_scheduler_url" in r.getMessage()
    ]
    assert len(warnings) == 1  # once
    app.close()


def test_a_lock_redis_that_is_down_makes_an_enqueue_error(aj_redis: Any) -> None:
    app = make_app(aj_redis.url, activejob_scheduler_url=f"redis://127.0.0.1:{free_port()}/0")

    class DownJob(ApplicationJob):
        unique()

        def perform(self) -> None: ...

    job = DownJob.perform_later()
    assert job and not job.successfully_enqueued
    assert isinstance(job.enqueue_error, EnqueueError)
    assert "Could not take the concurrency/unique lock" in str(job.enqueue_error)
    app.close()


def test_set_unique_false_travels_in_the_payload_and_back() -> None:
    class TaggedJob(ApplicationJob):
        unique(until="while_executing")

        def perform(self, n: int) -> None: ...

    job = TaggedJob(1)
    assert "unique" not in job.serialize()  # Rails' keys only, unless bypassed
    job._skip_unique = True
    payload = job.serialize()
    assert payload["unique"] is False  # type: ignore[typeddict-item]
    again = TaggedJob()
    again.load_payload(payload)
    assert again._skip_unique is True
    again.load_payload(TaggedJob(2).serialize())
    assert again._skip_unique is False
