"""The worker side of queue order: options over settings, queue checks, the channel's pops."""

from __future__ import annotations

import logging

import click
import pytest
from celery import Celery
from click.testing import CliRunner

from activejob_celery import init_app, queue_order
from activejob_celery.errors import ConfigurationError
from activejob_celery.queue_order import QueueOrderStep, install, order_for, pop_keys, resolve
from activejob_celery.queue_weights import StrictCycle, WeightedCycle


class _Worker:
    def __init__(self, app, prefetch_multiplier=4):
        self.app = app
        self.prefetch_multiplier = prefetch_multiplier  # Celery's default unless given


def _app(aj_redis, **conf):
    app = Celery("order_app", broker=aj_redis.url, set_as_current=False)
    app.conf.update(activejob_dead_letters_url=aj_redis.url, **conf)
    init_app(app)
    return app


def test_the_worker_options_win_over_the_settings(aj_redis):
    _app(aj_redis, activejob_queue_weights={"critical": 6, "low": 1})
    assert resolve({}) == ("weighted", {"critical": 6, "low": 1}, "activejob_queue_weights")
    assert resolve({"queue_weights": "low=3"}) == ("weighted", {"low": 3}, "--queue-weights")
    assert resolve({"queue_order": "strict"}) == ("strict", None, "--queue-order")
    assert resolve({"queue_order": "round_robin"})[0] == "round_robin"
    with pytest.raises(ConfigurationError, match="--queue-order strict takes no weights"):
        resolve({"queue_order": "strict", "queue_weights": "low=3"})
    with pytest.raises(ConfigurationError, match="--queue-weights 'low:3'"):
        resolve({"queue_weights": "low:3"})


def test_without_weights_celerys_round_robin_stays(aj_redis):
    app = _app(aj_redis)
    assert resolve({}) == ("round_robin", None, "activejob_queue_order")
    QueueOrderStep(_Worker(app))
    assert order_for(app) is None
    channel = app.connection_for_read().default_channel
    assert not install(app, channel)
    assert type(channel._queue_cycle).__name__ == "round_robin_cycle"


def test_a_weighted_queue_the_worker_does_not_consume_is_an_error(aj_redis):
    app = _app(aj_redis)
    app.amqp.queues.select(["critical", "default"])  # -Q critical,default
    with pytest.raises(ConfigurationError, match=r"queue 'low'.*-Q critical,default"):
        QueueOrderStep(_Worker(app), queue_weights="critical=6,default=2,low=1")


def test_without_q_the_worker_also_consumes_the_weighted_queues(aj_redis, caplog):
    app = _app(aj_redis, activejob_queue_weights={"critical": 6, "default": 2, "low": 1})
    with caplog.at_level(logging.INFO, logger="activejob_celery.worker"):
        QueueOrderStep(_Worker(app))
    assert {"critical", "default", "low"} <= set(app.amqp.queues.consume_from)
    assert order_for(app).weights == {"critical": 6, "default": 2, "low": 1}
    assert "Queue order (activejob_queue_weights): weighted: critical=6" in caplog.text


def test_a_weighted_queue_matching_a_q_pattern_is_consumed(aj_redis, monkeypatch):
    monkeypatch.setattr(queue_order, "patterns_for", lambda app: ("mail*",))
    app = _app(aj_redis)
    app.amqp.queues.select(["critical"])
    QueueOrderStep(_Worker(app), queue_weights="critical=3,mailers=1")
    assert list(app.amqp.queues.consume_from) == ["critical", "mailers"]


def test_strict_order_follows_q(aj_redis):
    app = _app(aj_redis, activejob_queue_order="strict")
    app.amqp.queues.select(["critical", "default", "low"])
    QueueOrderStep(_Worker(app))
    assert order_for(app).ranks == ("critical", "default", "low")


def test_on_a_push_broker_one_warning_names_the_setting(caplog):
    app = Celery("amqp_order", broker="amqp://guest@127.0.0.1:5672//", set_as_current=False)
    app.conf.update(activejob_scheduler="celery", activejob_queue_weights={"critical": 6})
    init_app(app)
    with caplog.at_level(logging.WARNING, logger="activejob_celery.worker"):
        QueueOrderStep(_Worker(app))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "activejob_queue_weights is ignored" in warnings[0]
    assert order_for(app) is None


@pytest.mark.parametrize(
    ("options", "given", "reserved"),
    [
        ({"queue_weights": "critical=6,low=1"}, 4, 1),  # Celery's default: one at a time
        ({"queue_order": "strict"}, 4, 1),
        ({"queue_weights": "critical=6,low=1"}, 2, 2),  # chosen: kept
        ({"queue_weights": "critical=6,low=1"}, 1, 1),
        ({}, 4, 4),  # Celery's round robin: nothing changes
    ],
)
def test_a_queue_order_reserves_one_message_unless_the_prefetch_was_chosen(
    aj_redis, caplog, options, given, reserved
):
    app = _app(aj_redis)
    worker = _Worker(app, prefetch_multiplier=given)
    with caplog.at_level(logging.INFO, logger="activejob_celery.worker"):
        QueueOrderStep(worker, **options)
    assert worker.prefetch_multiplier == reserved
    said = "one message reserved per process (worker_prefetch_multiplier 1" in caplog.text
    assert said == (given != reserved)


def test_on_a_push_broker_the_prefetch_stays(caplog):
    app = Celery("amqp_prefetch", broker="amqp://guest@127.0.0.1:5672//", set_as_current=False)
    app.conf.update(activejob_scheduler="celery", activejob_queue_weights={"critical": 6})
    init_app(app)
    worker = _Worker(app)
    QueueOrderStep(worker)
    assert worker.prefetch_multiplier == 4


def test_the_channel_pops_queue_by_queue_in_the_workers_order(aj_redis):
    app = _app(aj_redis, broker_transport_options={"priority_steps": [0, 5, 9]})
    app.amqp.queues.select(["critical", "low"])
    QueueOrderStep(_Worker(app), queue_order="strict")
    connection = app.connection_for_read()
    channel = connection.default_channel
    plain = pop_keys(channel, ["critical", "low"])
    assert plain[:2] == [channel._q_for_pri("critical", 0), channel._q_for_pri("low", 0)]
    assert install(app, channel) and install(app, channel)  # idempotent
    assert isinstance(channel._queue_cycle, StrictCycle)
    keys = pop_keys(channel, ["critical", "low"])
    assert keys == [channel._q_for_pri(q, p) for q in ("critical", "low") for p in (0, 5, 9)]
    for queue in ("low", "critical"):
        channel.basic_consume(queue, False, lambda message: None, f"tag-{queue}")
    assert channel._queue_cycle.consume(2) == ["critical", "low"]
    assert channel._brpop_start.__self__.__class__.__name__ == "_OrderedPop"
    connection.release()


def test_weighted_order_goes_on_the_channel_as_a_weighted_cycle(aj_redis):
    app = _app(aj_redis)
    app.amqp.queues.select(["critical", "low"])
    QueueOrderStep(_Worker(app), queue_weights="critical=6,low=1")
    connection = app.connection_for_read()
    assert install(app, connection.default_channel)
    assert isinstance(connection.default_channel._queue_cycle, WeightedCycle)
    connection.release()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--queue-weights", "critical:6"], "name=weight"),
        (["--queue-weights", "critical=-1"], "whole number"),
        (["--queue-order", "random"], "'strict'"),
    ],
)
def test_a_malformed_worker_option_is_a_usage_error(args, says):
    command = click.Command("worker", params=list(queue_order.WORKER_OPTIONS), callback=print)
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output and says in result.output


def test_init_app_adds_the_worker_options_once(aj_redis):
    app = _app(aj_redis)
    init_app(app)
    names = [opt.opts[0] for opt in app.user_options["worker"]]
    assert sorted(names) == ["--queue-order", "--queue-weights"]


def test_a_channel_of_another_shape_keeps_its_order_with_one_warning(aj_redis, caplog):
    app = _app(aj_redis)
    app.amqp.queues.select(["critical"])
    QueueOrderStep(_Worker(app), queue_order="strict")
    queue_order._warned.clear()
    with caplog.at_level(logging.WARNING, logger="activejob_celery.worker"):
        assert not install(app, object())
        assert not install(app, object())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Queue order strict: critical is off: the broker channel is not a kombu Redis channel"
    ]
