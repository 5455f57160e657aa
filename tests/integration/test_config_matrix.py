"""The configuration matrix: the same scenario under the settings real Celery projects use.

Each row builds an app its own way, runs an in-process worker and :func:`run_scenario`
(``tests/support/matrix.py``): every job runs exactly once, nothing is lost. Rows for other
brokers (Sentinel, RabbitMQ) reuse the same scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from celery import Celery
from sentry_sdk.integrations.celery import CeleryIntegration

from activejob_celery import init_app
from activejob_celery.errors import ConfigurationError
from tests.integration.test_rabbitmq import aj_rabbit, rabbit_app
from tests.integration.test_sentinel import sentinel_app
from tests.integration.test_sentry_envelopes import SentryEndpoint, sentry_session
from tests.support.fixtures import make_app
from tests.support.matrix import run_scenario
from tests.support.rabbitmq import RabbitMQNode
from tests.support.sentinel import SentinelCluster
from tests.support.worker import run_worker

__all__ = ["aj_rabbit"]  # the module-scoped RabbitMQ node fixture, shared with its own tests


@pytest.fixture
def quiet(aj_quiet_logs: None) -> None:
    """The scenario logs a few dozen Rails lines per row; keep the output readable."""


def _run(app: Celery, **options: Any) -> Any:
    try:
        return run_scenario(app, run_worker, **options)
    finally:
        app.close()


def _app(url: str, **conf: Any) -> Celery:
    return make_app(url, redbeat_redis_url=url, **conf)


def test_defaults(aj_redis, quiet):
    _run(_app(aj_redis.url))


def test_gzip_compression(aj_redis, quiet):
    _run(_app(aj_redis.url, task_compression="gzip"))


class DjangoSettings:
    """Celery's Django setup: ``config_from_object(settings, namespace="CELERY")``."""

    CELERY_TASK_IGNORE_RESULT = True
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_TASK_DEFAULT_PRIORITY = None
    CELERY_BROKER_URL = ""


# RedBeat looks for REDBEAT_REDIS_URL among the keys, finds CELERY_REDBEAT_REDIS_URL, warns
# that it falls back to broker_url, then reads the namespaced URL anyway (the right one).
@pytest.mark.filterwarnings("ignore:RedBeat will stop falling back:DeprecationWarning")
def test_the_celery_namespace(aj_redis, quiet):
    urls = {"CELERY_BROKER_URL": aj_redis.url, "CELERY_REDBEAT_REDIS_URL": aj_redis.url}
    settings = type("Settings", (DjangoSettings,), urls)
    app = Celery("aj_django", set_as_current=False)
    app.config_from_object(settings, namespace="CELERY")
    init_app(app)
    assert app.conf.broker_url == aj_redis.url
    _run(app)


def test_a_global_key_prefix(aj_redis, quiet):
    options = {"global_keyprefix": "pfx:"}
    app = _app(aj_redis.url, broker_transport_options=options, redbeat_redis_options={})
    _run(app)
    keys = [key.decode() for key in aj_redis.client.scan_iter()]
    assert any(key.startswith("pfx:_kombu.binding") for key in keys)
    assert not [key for key in keys if key.startswith(("_kombu", "default", "unacked"))]


def test_sentinel_after_a_failover(tmp_path, quiet):
    # kombu's Sentinel transport, every part found through the sentinel (no Redis URL set),
    # and the scenario run on the replica the sentinel promoted after the master was killed.
    with SentinelCluster.start_private(workdir=tmp_path) as cluster:
        app = sentinel_app(cluster)
        promoted = cluster.failover()
        _run(app)
        assert cluster.master_port() == promoted.port


def test_rabbitmq_with_redis_url_settings(aj_rabbit: RabbitMQNode, aj_redis, quiet):
    # RabbitMQ carries the messages; the scheduled set, dead letters and RedBeat use Redis.
    _run(rabbit_app(aj_rabbit, aj_redis.url, redbeat_redis_url=aj_redis.url))


def test_task_protocol_1_is_a_configuration_error(aj_redis):
    with pytest.raises(ConfigurationError, match="task_protocol"):
        make_app(aj_redis.url, task_protocol=1)


@pytest.fixture
def sentry_tracing() -> Iterator[None]:
    endpoint = SentryEndpoint()
    try:
        with sentry_session(endpoint, traces_sample_rate=1.0, integrations=[CeleryIntegration()]):
            yield
    finally:
        endpoint.close()


def test_sentry_tracing_gives_each_message_its_own_trace(aj_redis, quiet, sentry_tracing):
    # Last in the module: sentry-sdk wraps Celery.send_task for the rest of the process.
    count = iter(range(100))

    def transaction() -> Any:
        return sentry_sdk.start_transaction(name=f"request-{next(count)}", op="http.server")

    runs = _run(_app(aj_redis.url), enqueue_context=transaction)
    traces = {}
    for run in runs.runs:
        if run.token.startswith("later-"):
            traces[run.token] = run.headers["sentry-trace"].split("-")[0]
    assert len(traces) == 3 and len(set(traces.values())) == 3
