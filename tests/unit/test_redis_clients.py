"""The one Redis client factory: URLs as kombu reads them, Sentinel, TLS, and RedBeat's settings.

No server is contacted: redis-py connects lazily, so the clients are inspected, not used.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from kombu.transport.redis import Channel, SentinelChannel
from redis.sentinel import SentinelConnectionPool, SentinelManagedSSLConnection

from activejob_celery import ConfigurationError
from activejob_celery.broker_queues import broker_url, is_redis_url
from activejob_celery.config import Settings
from activejob_celery.dead_letters.binding import remember
from activejob_celery.internals import publishes_like_redis_channel
from activejob_celery.recurring.connection import use_broker_sentinel
from activejob_celery.redis_clients import SentinelMaster, connect, sentinel_settings

SENTINELS = "sentinel://:s3cret@10.0.0.5:26379/2;sentinel://10.0.0.6:26380"


def app_on(broker: Any, **conf: Any) -> Celery:
    app = Celery("unit_redis_clients", broker=broker, set_as_current=False)
    app.conf.update(conf)
    return app


@pytest.fixture
def aj_sentinel_app() -> Iterator[Celery]:
    app = app_on(SENTINELS, broker_transport_options={"master_name": "mymaster"})
    yield app
    app.close()


def test_a_sentinel_list_is_one_broker_and_a_redis_list_is_a_failover_list():
    assert broker_url(app_on(SENTINELS)) == SENTINELS
    assert broker_url(app_on(SENTINELS.split(";"))) == SENTINELS
    assert broker_url(app_on("redis://a:6379/0;redis://b:6379/0")) == "redis://a:6379/0"
    assert is_redis_url(SENTINELS) and not is_redis_url("amqp://guest@rabbit//")


def test_sentinel_settings_are_read_as_kombu_reads_them(aj_sentinel_app):
    aj_sentinel_app.conf.broker_transport_options = {
        "master_name": "mymaster",
        "sentinel_kwargs": {"password": "sentinel-pw"},
        "min_other_sentinels": 1,
    }
    found = sentinel_settings(aj_sentinel_app, SENTINELS)
    assert found.sentinels == (("10.0.0.5", 26379), ("10.0.0.6", 26380))
    assert (found.master_name, found.db, found.password) == ("mymaster", 2, "s3cret")
    assert found.sentinel_kwargs == {"password": "sentinel-pw"}
    assert found.min_other_sentinels == 1
    assert "s3cret" not in repr(found) and "sentinel-pw" not in repr(found)


def test_a_sentinel_url_without_master_name_names_the_setting():
    with pytest.raises(ConfigurationError, match="master_name"):
        connect(app_on(SENTINELS), SENTINELS)


def test_a_sentinel_client_follows_the_master_with_bounded_timeouts(aj_sentinel_app):
    aj_sentinel_app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    client = connect(aj_sentinel_app, SENTINELS, socket_timeout=5.0)
    pool = client.connection_pool
    assert isinstance(client, SentinelMaster) and isinstance(pool, SentinelConnectionPool)
    assert (pool.service_name, pool.is_master) == ("mymaster", True)
    assert pool.connection_class is SentinelManagedSSLConnection  # TLS, as kombu's master
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"], kwargs["socket_timeout"]) == (2, "s3cret", 5.0)
    assert kwargs["socket_connect_timeout"] == 5.0 and kwargs["retry"] is not None
    sentinels = client.sentinel_manager.sentinels
    addresses = [(s.connection_pool.connection_kwargs["port"]) for s in sentinels]
    assert addresses == [26379, 26380]
    assert all(s.connection_pool.connection_kwargs["socket_timeout"] == 5.0 for s in sentinels)
    client.close()


def test_redis_socket_and_tls_urls_keep_their_behaviour():
    app = app_on("rediss://cache:6380/0", broker_use_ssl={"ssl_ca_certs": "/etc/redis/ca.pem"})
    tls = connect(app, "rediss://cache:6380/0").connection_pool.connection_kwargs
    assert tls["ssl_ca_certs"] == "/etc/redis/ca.pem"
    unix = connect(app, "redis+socket:///run/redis.sock").connection_pool.connection_kwargs
    assert unix["path"] == "/run/redis.sock"


def test_redbeat_is_pointed_at_the_brokers_sentinel_and_the_apps_options_win(aj_sentinel_app):
    aj_sentinel_app.conf.redbeat_redis_options = {"retry_period": 5}
    options = use_broker_sentinel(aj_sentinel_app)
    assert aj_sentinel_app.conf.redbeat_redis_url == "redis-sentinel://10.0.0.5:26379/2"
    assert options == aj_sentinel_app.conf.redbeat_redis_options
    assert options["sentinels"] == [["10.0.0.5", 26379], ["10.0.0.6", 26380]]
    assert (options["service_name"], options["db"]) == ("mymaster", 2)
    assert options["password"] == "s3cret"
    assert options["retry_period"] == 5
    assert "s3cret" not in aj_sentinel_app.conf.redbeat_redis_url


def test_redbeat_keeps_its_own_url_and_a_redis_broker_is_left_alone(aj_sentinel_app):
    aj_sentinel_app.conf.CELERY_REDBEAT_REDIS_URL = "redis://beat:6379/3"
    assert use_broker_sentinel(aj_sentinel_app) is None
    assert use_broker_sentinel(app_on("redis://cache:6379/0")) is None


def test_a_sentinel_url_given_to_redbeat_is_translated_too():
    app = app_on(
        "amqp://guest@rabbit//",
        redbeat_redis_url="sentinel://10.0.0.9:26379/4",
        redbeat_redis_options={"service_name": "beats"},
    )
    options = use_broker_sentinel(app)
    assert app.conf.redbeat_redis_url == "redis-sentinel://10.0.0.9:26379/4"
    assert options is not None and (options["service_name"], options["db"]) == ("beats", 4)


def test_dead_letters_live_on_a_sentinel_broker_and_say_which_setting_fixes_another():
    sentinel = app_on(SENTINELS, broker_transport_options={"master_name": "mymaster"})
    assert remember(sentinel, Settings()) is None
    problem = remember(app_on("amqp://guest@rabbit//"), Settings())
    assert problem is not None and "activejob_dead_letters_url" in problem
    assert "sentinel://" in problem and "'amqp' URLs are not Redis" in problem


def test_a_channel_that_publishes_its_own_way_keeps_celerys_path(caplog):
    class OwnPut(SentinelChannel):  # type: ignore[misc]
        def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
            pass

    assert publishes_like_redis_channel(SentinelChannel) and publishes_like_redis_channel(Channel)
    with caplog.at_level(logging.WARNING):
        assert not publishes_like_redis_channel(OwnPut)
    assert "OwnPut publishes differently" in caplog.text


def test_init_app_on_a_sentinel_broker_without_master_name_fails_naming_it():
    from activejob_celery import init_app

    app = app_on(SENTINELS)
    with pytest.raises(ConfigurationError, match=r"broker_transport_options.*master_name"):
        init_app(app)
    app.close()
