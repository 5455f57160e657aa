"""RabbitMQ as the broker: the Redis parts through their URL settings, Rails priorities, honesty.

One private RabbitMQ node serves the module (tests/support/rabbitmq.py); each test uses its
own queue names, so messages a test leaves behind never reach another test's worker. The
Redis parts (scheduled set, dead letters) use the session's Redis through their URL settings.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner
from kombu import Queue

from activejob_celery import ApplicationJob, queue_as, retry_on
from activejob_celery.cli import jobs as jobs_command
from activejob_celery.dead_letters import store_for
from activejob_celery.parts_off import parts_off
from activejob_celery.queue_priority import celery_priority
from activejob_celery.scheduler import scheduled_set_for
from tests.support.fixtures import JobBuffer, make_app
from tests.support.rabbitmq import RabbitMQNode, rabbitmq_problem
from tests.support.requirements import skip_or_fail
from tests.support.worker import run_worker, wait_for


class Broken(Exception): ...


@pytest.fixture(scope="module")
def aj_rabbit() -> Iterator[RabbitMQNode]:
    """One private RabbitMQ node for the module (skips with the reason when it cannot run)."""
    problem = rabbitmq_problem()
    if problem is not None:
        skip_or_fail(f"RabbitMQ tests need a rabbitmq-server: {problem}")
    node = RabbitMQNode()
    try:
        node.start()
    except (RuntimeError, OSError) as error:
        node.close()
        skip_or_fail(f"RabbitMQ node could not start: {str(error).splitlines()[0]}")
    try:
        yield node
    finally:
        node.close()


def rabbit_app(node: RabbitMQNode, redis_url: str | None = None, **conf: Any) -> Celery:
    """An app on the node; ``redis_url`` (if given) for the scheduled set and dead letters."""
    settings: dict[str, Any] = {
        "activejob_default_queue_name": f"rq-{uuid.uuid4().hex[:8]}",
        "activejob_dead_letters_url": redis_url,
        "activejob_scheduler_url": redis_url,
        "task_acks_late": True,
        # The worker's event loop wakes for heartbeats; without them a test worker's stop
        # waits out a 10 s poll.
        "broker_heartbeat": 2,
    }
    return make_app(node.url, **{**settings, **conf})


def cli(app: Celery, *args: str) -> Any:
    """``celery -A app jobs ARGS`` in this process (click's runner, the app given as Celery's)."""
    runner = CliRunner()
    return runner.invoke(jobs_command, list(args), obj=SimpleNamespace(app=app))


def test_a_delayed_job_waits_in_the_redis_scheduled_set_and_runs_once(
    aj_rabbit: RabbitMQNode, aj_redis: Any
) -> None:
    buffer = JobBuffer()

    class RabbitLaterJob(ApplicationJob):
        def perform(self, name: str) -> None:
            buffer.add(name)

    app = rabbit_app(aj_rabbit, aj_redis.url)
    scheduled = scheduled_set_for(app)
    job = RabbitLaterJob.set(wait=1).perform_later("grace")
    assert job.successfully_enqueued
    assert scheduled.count() == 1  # in Redis, not an ETA message held by a worker
    assert not scheduled.direct  # published through Celery when due
    assert aj_redis.client.zcard("activejob:scheduled") == 1
    with run_worker(app):
        assert wait_for(lambda: buffer.values, timeout=20) == ["grace"]
        wait_for(lambda: scheduled.count() == 0, timeout=10)
        depth = cli(app, "stats", "--json")
        assert '"scheduled": 0' in depth.output
    assert buffer.values == ["grace"]
    app.close()


def test_a_failing_job_is_retried_from_redis_then_lands_in_the_dead_letter_store(
    aj_rabbit: RabbitMQNode, aj_redis: Any
) -> None:
    runs = JobBuffer()

    class RabbitBrokenJob(ApplicationJob):
        retry_on(Broken, wait=3, attempts=2, jitter=0)  # past the 1 s early release window

        def perform(self) -> None:
            runs.add(self.executions)
            raise Broken("supplier down")

    app = rabbit_app(aj_rabbit, aj_redis.url)
    scheduled = scheduled_set_for(app)
    store = store_for(app)
    with run_worker(app):
        RabbitBrokenJob.perform_later()
        # The retry waits in the Redis scheduled set (not in the worker as an ETA message), then
        # goes to RabbitMQ a second ahead with its eta (the early release window).
        wait_for(lambda: scheduled.count() == 1, timeout=20, message="the retry to be scheduled")
        wait_for(lambda: store.count() == 1, timeout=20, message="a dead letter")
    letters = store.list()
    assert [letter.job_class for letter in letters] == [RabbitBrokenJob.job_name]
    assert letters[0].error_class.endswith("Broken")
    assert runs.values == [1, 2]
    app.close()


def test_priority_zero_runs_first_on_an_x_max_priority_queue(
    aj_rabbit: RabbitMQNode, aj_redis: Any
) -> None:
    order = JobBuffer()
    name = f"prio-{uuid.uuid4().hex[:8]}"

    class RabbitRankedJob(ApplicationJob):
        queue_as(name)

        def perform(self, rank: int) -> None:
            order.add(rank)

    app = rabbit_app(
        aj_rabbit,
        aj_redis.url,
        task_queues=[Queue(name, routing_key=name, queue_arguments={"x-max-priority": 10})],
    )
    with app.connection_for_write() as connection:  # declare it before anything is published
        app.amqp.queues[name](connection.default_channel).declare()
    for rank in (10, 5, 0, -10):  # enqueued last-first while no worker runs
        assert RabbitRankedJob.set(priority=rank).perform_later(rank).successfully_enqueued
    with run_worker(app, queues=[name]):
        wait_for(lambda: len(order.values) == 4, timeout=20)
    assert order.values == [-10, 0, 5, 10]  # Rails order: a lower number runs first
    app.close()


def test_a_priority_on_a_plain_queue_warns_once_naming_the_fix(
    aj_rabbit: RabbitMQNode, aj_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class RabbitPlainJob(ApplicationJob):
        def perform(self) -> None:
            pass

    app = rabbit_app(aj_rabbit, aj_redis.url)
    with caplog.at_level(logging.WARNING, logger="activejob_celery.queue_priority"):
        RabbitPlainJob.perform_later()  # no priority: nothing to say
        RabbitPlainJob.set(priority=3).perform_later()
        RabbitPlainJob.set(priority=1).perform_later()
    warnings = [r.getMessage() for r in caplog.records if "x-max-priority" in r.getMessage()]
    assert len(warnings) == 1
    assert app.conf.activejob_default_queue_name in warnings[0]
    assert "queue_arguments" in warnings[0] and "task_queue_max_priority" in warnings[0]
    app.close()


def test_rabbitmq_alone_runs_jobs_and_each_redis_part_warns_once_at_worker_start(
    aj_rabbit: RabbitMQNode, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = JobBuffer()

    class RabbitHelloJob(ApplicationJob):
        def perform(self, name: str) -> None:
            buffer.add(name)

    app = rabbit_app(aj_rabbit)  # no scheduler, dead-letter or RedBeat URL
    parts = {
        "scheduled set",
        "dead letters",
        "recurring jobs",
        "job statistics",
        "running jobs and workers",
        "job status",
    }
    assert set(parts_off(app)) == parts
    with caplog.at_level(logging.WARNING), run_worker(app):
        assert RabbitHelloJob.perform_later("ada").successfully_enqueued
        assert wait_for(lambda: buffer.values, timeout=20) == ["ada"]
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for part, setting in [
        ("Scheduled set is off", "activejob_scheduler_url"),
        ("Dead letters are off", "activejob_dead_letters_url"),
        ("Recurring jobs are off", "redbeat_redis_url"),
        ("Job statistics are off", "activejob_dead_letters_url"),
        ("Running jobs and workers are off", "activejob_scheduler_url"),
    ]:
        said = [line for line in lines if line.startswith(part)]
        assert len(said) == 1, (part, lines)
        assert setting in said[0]
    # Acks are native on AMQP: reliable fetch (a Redis-transport feature) says nothing.
    assert not [line for line in lines if "eliable fetch" in line]
    app.close()


def test_cli_scheduled_count_and_stats_with_the_scheduler_url(
    aj_rabbit: RabbitMQNode, aj_redis: Any
) -> None:
    class RabbitCountedJob(ApplicationJob):
        def perform(self) -> None:
            pass

    app = rabbit_app(aj_rabbit, aj_redis.url)
    RabbitCountedJob.set(wait=600).perform_later()
    RabbitCountedJob.perform_later()
    RabbitCountedJob.perform_later()
    count = cli(app, "scheduled", "count")
    assert count.exit_code == 0, count.output
    assert count.output.strip() == "1"
    stats = cli(app, "stats")
    assert stats.exit_code == 0, stats.output
    queue = app.conf.activejob_default_queue_name
    assert [line.split() for line in stats.output.splitlines() if line.startswith(queue)] == [
        [queue, "2"]
    ]
    assert "Scheduled:      1" in stats.output
    assert "Unacknowledged: unknown on this broker" in stats.output
    assert "None" not in stats.output
    app.close()


def test_cli_without_a_scheduler_url_says_so_in_one_line(aj_rabbit: RabbitMQNode) -> None:
    app = rabbit_app(aj_rabbit)
    count = cli(app, "scheduled", "count")
    assert count.exit_code != 0
    assert count.exception is None or isinstance(count.exception, SystemExit)
    lines = count.output.strip().splitlines()
    assert len(lines) == 1, count.output
    assert "Celery ETA" in lines[0] and "activejob_scheduler_url" in lines[0]
    stats = cli(app, "stats")
    assert stats.exit_code == 0, stats.output
    assert "None" not in stats.output
    assert "Scheduled:      off: set activejob_scheduler_url" in stats.output
    assert "Dead letters:   off: set activejob_dead_letters_url" in stats.output
    recurring = cli(app, "recurring", "list")
    assert recurring.exit_code != 0
    assert isinstance(recurring.exception, SystemExit)  # click's exit, not a traceback
    assert len(recurring.output.strip().splitlines()) == 1
    assert "redbeat_redis_url" in recurring.output
    app.close()


def test_priority_mapping_depends_on_the_broker_and_the_queue() -> None:
    rabbit = Celery("aj_map", broker="amqp://guest@127.0.0.1:1//", set_as_current=False)
    rabbit.conf.task_queues = [
        Queue("ranked", queue_arguments={"x-max-priority": 10}),
        Queue("small", max_priority=3),
        Queue("plain"),
    ]
    ranked = [celery_priority(p, rabbit, "ranked") for p in (-5, 0, 1, 5, 9, 10, 50, None)]
    assert ranked == [10, 9, 8, 4, 4, 3, 1, 9]  # below 0 first, then 0/None, then ranges
    assert [celery_priority(p, rabbit, "small") for p in (-1, 0, 1, 2, 3, 9)] == [3, 2, 1, 0, 0, 0]
    assert celery_priority(0, rabbit, "plain") is None
    everywhere = Celery("aj_map_all", broker="amqp://guest@127.0.0.1:1//", set_as_current=False)
    everywhere.conf.task_queue_max_priority = 5  # Celery declares every queue with it
    assert [celery_priority(p, everywhere, "made-on-send") for p in (0, 4, 9)] == [4, 0, 0]
    redis_app = Celery("aj_map_redis", broker="redis://127.0.0.1:1/0", set_as_current=False)
    assert [celery_priority(p, redis_app, "x") for p in (-3, 0, 5, 50, None)] == [0, 1, 6, 9, 1]


def test_dashboard_queues_page_shows_rabbitmq_depths_and_what_it_cannot_do(
    aj_rabbit: RabbitMQNode,
) -> None:
    from starlette.testclient import TestClient

    from activejob_celery.web import create_app
    from tests.web.conftest import LOCAL, LOCAL_URL

    class RabbitShownJob(ApplicationJob):
        def perform(self) -> None:
            pass

    app = rabbit_app(aj_rabbit)  # no Redis at all: pausing cannot be remembered
    RabbitShownJob.perform_later()
    queue = app.conf.activejob_default_queue_name
    with TestClient(create_app(app), base_url=LOCAL_URL, client=LOCAL) as client:
        page = client.get("/queues").text
        overview = client.get("/").text
    row = page[page.index(f'data-queue="{queue}"') :]
    assert '<td class="num depth">1</td>' in row[: row.index("</tr>")]
    assert "Counts per priority are shown on Redis brokers only" in page
    assert "Held by workers (unacknowledged): unknown on this broker" in page
    assert 'id="pausing-off"' in page and "activejob_dead_letters_url" in page
    assert ">Pause</button>" not in page
    assert re.search(r'id="waiting">\d+<', overview)  # a number, not n/a
    app.close()


def test_scheduler_url_alone_turns_the_scheduled_set_on_without_a_node(aj_redis: Any) -> None:
    from activejob_celery.adapters import named_adapter
    from activejob_celery.scheduler import RedisScheduler, SchedulerPoller

    class RabbitLaterOfflineJob(ApplicationJob):
        def perform(self) -> None:
            pass

    app = make_app(  # nothing listens on port 1: the delayed job must not touch the broker
        "amqp://guest@127.0.0.1:1//",
        activejob_scheduler_url=aj_redis.url,
        activejob_dead_letters_url=aj_redis.url,
    )
    assert isinstance(named_adapter("celery").scheduler, RedisScheduler)
    assert SchedulerPoller in app.steps["worker"]
    assert "scheduled set" not in parts_off(app)
    assert RabbitLaterOfflineJob.set(wait=60).perform_later().successfully_enqueued
    assert scheduled_set_for(app).count() == 1
    app.close()
