"""Queue precedence: set(queue=), queue_as, task_routes, activejob default, task_default_queue."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery
from kombu import Queue

from activejob_celery import ApplicationJob, init_app, queue_as
from activejob_celery.app import job_queue_names
from activejob_celery.recurring import load_recurring
from activejob_celery.routing import route_queue, warn_unlisted_routes


@pytest.fixture
def aj_routed_app() -> Iterator[Callable[..., Celery]]:
    """A memory-broker app with the given Celery settings, set up with ``init_app``."""
    apps: list[Celery] = []

    def make(**conf: Any) -> Celery:
        app = Celery("aj_routing", broker="memory://", set_as_current=False)
        app.conf.update(worker_hijack_root_logger=False, **conf)
        init_app(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


class RouteMeJob(ApplicationJob):
    def perform(self, *args: Any) -> None:
        pass


class PinnedJob(ApplicationJob):
    queue_as("pinned")

    def perform(self) -> None:
        pass


def test_a_changed_task_default_queue_is_used(aj_routed_app):
    aj_routed_app()
    assert RouteMeJob().queue_name == "default"  # Celery's own "celery" is not a job queue
    aj_routed_app(task_default_queue="proj")
    assert RouteMeJob().queue_name == "proj"
    assert PinnedJob().queue_name == "pinned"


def test_activejob_default_queue_name_beats_task_default_queue(aj_routed_app):
    aj_routed_app(task_default_queue="proj", activejob_default_queue_name="jobs")
    assert RouteMeJob().queue_name == "jobs"
    # Even spelled as the package default, a given setting wins over Celery's.
    aj_routed_app(task_default_queue="proj", activejob_default_queue_name="default")
    assert RouteMeJob().queue_name == "default"
    aj_routed_app(task_default_queue="proj")
    assert RouteMeJob().queue_name == "proj"


def test_a_glob_route_beats_the_defaults(aj_routed_app):
    aj_routed_app(
        task_default_queue="proj",
        activejob_default_queue_name="jobs",
        task_routes={f"{RouteMeJob.__module__}.*": {"queue": "jobs_all"}},
    )
    assert RouteMeJob().queue_name == "jobs_all"


def test_queue_as_beats_a_route_and_set_beats_queue_as(aj_routed_app):
    aj_routed_app(task_routes={"*": "routed"})
    assert PinnedJob().queue_name == "pinned"
    assert RouteMeJob().queue_name == "routed"
    job = PinnedJob()
    job.queue_name = "explicit"  # what set(queue="explicit") does
    assert job.queue_name == "explicit"


@pytest.mark.parametrize(
    "routes",
    [
        {RouteMeJob.job_name: "exact"},
        {RouteMeJob.job_name: {"queue": "exact"}},
        {re.compile(r".*RouteMe.*"): {"queue": "exact"}},
        [{"nothing.matches": "other"}, {RouteMeJob.job_name: "exact"}],
        (lambda name, args, kwargs, options, task=None, **kw: "exact",),
        (lambda name, args, kwargs, options, task=None, **kw: {"queue": Queue("exact")},),
    ],
    ids=["name", "dict", "regex", "list", "function-str", "function-queue"],
)
def test_every_form_of_task_routes(aj_routed_app, routes):
    app = aj_routed_app(task_routes=routes)
    assert route_queue(app, RouteMeJob.job_name) == "exact"
    assert RouteMeJob().queue_name == "exact"


def test_a_route_without_a_queue_or_a_failing_router_falls_through(aj_routed_app):
    def broken(name, args, kwargs, options, task=None, **kw):
        raise ValueError("router is broken")

    aj_routed_app(task_routes=({"*": {"priority": 3}}, broken), task_default_queue="proj")
    assert RouteMeJob().queue_name == "proj"


def test_the_worker_default_set_and_declared_queues_follow_routing(aj_routed_app):
    app = aj_routed_app(
        task_default_queue="proj", task_routes={f"{RouteMeJob.__module__}.Route*": "jobs_all"}
    )
    names = job_queue_names(app)
    assert names[0] == "proj"
    assert {"jobs_all", "pinned"} <= set(names)
    assert {"proj", "jobs_all", "pinned"} <= set(app.amqp.queues)

    class LateJob(ApplicationJob):  # defined after init_app: declared as it is registered
        queue_as("late")

        def perform(self) -> None:
            pass

    assert "late" in app.amqp.queues


def by_tenant(name, args, kwargs, options, task=None, **kw):
    if name == RouteMeJob.job_name and args:
        return {"queue": f"tenant_{args[0]['arguments'][0]}"}
    return None


def test_a_router_function_sees_the_payload_as_celery_gives_it(aj_routed_app, caplog):
    app = aj_routed_app(task_routes=(by_tenant,))
    job = RouteMeJob("big")
    assert job.queue_name == "tenant_big"
    assert job.serialize()["queue_name"] == "tenant_big"
    assert RouteMeJob(object()).queue_name == "default"  # unserializable: no payload to route
    warn_unlisted_routes(app)
    [record] = [r for r in caplog.records if "router function" in r.getMessage()]
    assert record.levelname == "WARNING" and "-Q" in record.getMessage()


def test_recurring_runs_follow_the_routes(aj_routed_app):
    aj_routed_app(task_routes={RouteMeJob.job_name: "jobs_all"}, activejob_queue_adapter="test")
    [entry] = load_recurring({"r": {"class": RouteMeJob.job_name, "schedule": "@daily"}})
    assert entry.enqueue().queue_name == "jobs_all"
    [configured] = load_recurring(
        {"r": {"class": RouteMeJob.job_name, "schedule": "@daily", "queue": "chosen"}}
    )
    assert configured.enqueue().queue_name == "chosen"  # the entry's queue is set(queue=)
