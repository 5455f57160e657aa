"""Job signatures: the call a signature carries and the payload its task builds at run time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from celery import Celery

from activejob_celery import ApplicationJob, init_app
from activejob_celery.canvas import CALL_KEY, payload_from_call
from activejob_celery.config import Settings
from activejob_celery.errors import ConfigurationError, MalformedPayloadError
from activejob_celery.results import check_backend


class SignedJob(ApplicationJob):
    def perform(self, *args, **kwargs):
        return [list(args), kwargs]


def _stamp_job() -> type[ApplicationJob]:
    # Defined per test: a class that stores results makes every later init_app warn.
    class StampJob(ApplicationJob):
        store_result = True

        def perform(self, day):
            return datetime(2030, 1, day, tzinfo=timezone.utc)

    return StampJob


@pytest.fixture
def memory_app() -> Iterator[Celery]:
    app = Celery("unit_canvas", broker="memory://", set_as_current=False)
    init_app(app)
    yield app
    app.close()


def _call(*args, **kwargs):
    [call] = SignedJob.s(*args, **kwargs).args
    return call


def test_the_payload_puts_celerys_values_first_then_the_calls_then_keywords():
    call = _call(1, "two", flag=True)
    payload = payload_from_call(SignedJob, (99, call), {}, task_id="task-1", queue="low")
    assert payload["arguments"] == [99, 1, "two", {"flag": True, "_aj_kwargs": ["flag"]}]
    assert payload["provider_job_id"] == "task-1"
    assert payload["queue_name"] == "low"
    assert payload["job_class"] == SignedJob.job_name
    assert payload["executions"] == 0


def test_each_run_of_a_signature_gets_a_fresh_job_id():
    call = _call()
    first = payload_from_call(SignedJob, (call,), {}, task_id="a", queue=None)
    second = payload_from_call(SignedJob, (call,), {}, task_id="b", queue=None)
    assert first["job_id"] != second["job_id"]


def test_keywords_given_later_join_the_calls_keywords():
    call = _call(flag=True)
    payload = payload_from_call(SignedJob, (call,), {"extra": 2}, task_id="t", queue=None)
    assert payload["arguments"] == [{"flag": True, "extra": 2, "_aj_kwargs": ["flag", "extra"]}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((_call(), _call()), "2 signature calls"),
        (({CALL_KEY: "other.Job", "args": [], "kwargs": []},), "reached the task"),
        (({CALL_KEY: SignedJob.job_name, "args": "x", "kwargs": []},), "must be lists"),
    ],
)
def test_a_malformed_call_is_a_clear_error(args, message):
    with pytest.raises(MalformedPayloadError, match=message):
        payload_from_call(SignedJob, args, {}, task_id="t", queue=None)


def test_the_task_runs_a_call_with_a_parents_result(memory_app):
    task = memory_app.tasks[SignedJob.job_name]
    outcome = task.apply(args=(5, _call(1, k="v")))
    assert outcome.successful()
    assert outcome.result == [[5, 1], {"k": "v"}]  # returned to Celery: inside a canvas


def test_a_malformed_call_fails_the_task_as_a_malformed_message(memory_app):
    task = memory_app.tasks[SignedJob.job_name]
    outcome = task.apply(args=(_call(), _call()))
    assert outcome.failed()
    assert isinstance(outcome.result, MalformedPayloadError)


def test_a_result_is_encoded_by_the_argument_serializers_and_decoded_by_job_result(memory_app):
    memory_app.conf.task_always_eager = True
    job = _stamp_job().perform_later(3)
    assert job.result() == datetime(2030, 1, 3, tzinfo=timezone.utc)


def test_store_results_must_be_a_bool():
    with pytest.raises(ConfigurationError, match="activejob_store_results"):
        Settings(store_results="yes")  # type: ignore[arg-type]


def test_storing_results_without_a_result_backend_warns_once_at_init(memory_app, caplog):
    stamp_job = _stamp_job()
    with caplog.at_level(logging.WARNING, logger="activejob_celery.results"):
        assert check_backend(memory_app) is False
    assert "result_backend" in caplog.text
    assert stamp_job.job_name in caplog.text


def test_a_signature_goes_to_the_queue_routing_gives_the_job():
    app = Celery("unit_canvas_routes", broker="memory://", set_as_current=False)
    app.conf.task_routes = {"tests.unit.test_canvas.*": {"queue": "routed"}}
    init_app(app)
    assert SignedJob.s().options["queue"] == "routed"
    assert SignedJob.si().set(queue="other").options["queue"] == "other"
    app.close()
