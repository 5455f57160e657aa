"""Queue patterns (`-Q '*'`, `-Q 'prefix*'`): matching, validation, and the worker's selection."""

from __future__ import annotations

import logging

import pytest
from celery import Celery

from activejob_celery import init_app, queue_patterns
from activejob_celery.broker_queues import configured_queues
from activejob_celery.errors import ConfigurationError
from activejob_celery.queue_patterns import check_pattern, matches, matching


def test_star_matches_every_job_queue_but_no_internal_queue():
    assert matching(("*",), ["default", "celery", "mailers", "celery@host.dq2", "celeryev.x"]) == [
        "default",
        "celery",
        "mailers",
    ]


def test_prefix_pattern_matches_names_that_start_with_it():
    assert matches("mail*", "mailers") and matches("mail*", "mail")
    assert not matches("mail*", "default") and not matches("mail*", "e_mail")


@pytest.mark.parametrize("bad", ["*mail", "ma*il", "**", "mail**"])
def test_a_star_not_at_the_end_is_refused_clearly(bad):
    with pytest.raises(ConfigurationError, match="one '\\*', at its end"):
        check_pattern(bad)


class _Worker:
    def __init__(self, app):
        self.app = app


def test_the_worker_step_replaces_patterns_by_known_queues(aj_app, monkeypatch):
    monkeypatch.setattr(queue_patterns, "known_queues", lambda app: ["default", "mailers", "x"])
    queues = aj_app.amqp.queues
    queues.select(["critical", "mail*"])  # what `-Q critical,'mail*'` does
    queue_patterns.QueuePatterns(_Worker(aj_app))
    assert sorted(queues.consume_from) == ["critical", "mailers"]
    assert "mail*" not in queues
    assert queue_patterns.patterns_for(aj_app) == ("mail*",)


def test_the_worker_step_refuses_a_bad_pattern(aj_app):
    aj_app.amqp.queues.select(["*low"])
    with pytest.raises(ConfigurationError, match="'\\*low'"):
        queue_patterns.QueuePatterns(_Worker(aj_app))


def test_on_a_broker_that_is_not_redis_the_known_queues_match_with_one_warning(caplog):
    app = Celery("amqp_app", broker="amqp://guest@127.0.0.1:5672//", set_as_current=False)
    app.conf.update(activejob_scheduler="celery")
    init_app(app)
    app.amqp.queues.select(["*"])
    with caplog.at_level(logging.WARNING, logger="activejob_celery.worker"):
        queue_patterns.QueuePatterns(_Worker(app))
    consumed = sorted(app.amqp.queues.consume_from)
    assert consumed == sorted(configured_queues(app)) and "*" not in consumed
    assert {"celery", "default"} <= set(consumed)  # plus the static queue_as of job classes
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "only found on a Redis broker" in warnings[0]
    assert "Name every queue in -Q" in warnings[0]
