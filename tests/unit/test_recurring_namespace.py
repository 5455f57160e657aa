"""`config_from_object(..., namespace="CELERY")` (the Django setup): RedBeat options survive."""

from __future__ import annotations

from celery import Celery
from redbeat.schedulers import RedBeatConfig

from activejob_celery import init_app

OPTIONS = {"password": "s3cret", "socket_timeout": 3, "ssl_cert_reqs": "required"}


class DjangoSettings:
    CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    CELERY_REDBEAT_REDIS_URL = "redis://127.0.0.1:1/1"
    CELERY_REDBEAT_REDIS_OPTIONS = OPTIONS
    CELERY_REDBEAT_KEY_PREFIX = "shop:"


def _app(settings: type) -> Celery:
    app = Celery("aj_namespace", set_as_current=False)
    app.config_from_object(settings, namespace="CELERY")
    init_app(app)
    return app


def test_init_app_keeps_namespaced_redbeat_options() -> None:
    app = _app(DjangoSettings)
    config = RedBeatConfig(app)  # warns (an error here) if it falls back to the broker's settings
    assert config.redbeat_redis_options == OPTIONS
    # Seen as set by the user, so RedBeat hands every option to redis-py, not just a few.
    assert config.is_key_in_conf("redbeat_redis_options")
    assert config.redis_url == "redis://127.0.0.1:1/1"
    assert config.key_prefix == "shop:"
    app.close()


def test_without_redbeat_options_our_priority_steps_are_not_handed_to_redbeat() -> None:
    class Plain:
        CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        CELERY_REDBEAT_REDIS_URL = "redis://127.0.0.1:1/1"

    app = _app(Plain)
    config = RedBeatConfig(app)
    assert config.redbeat_redis_options == {}
    app.close()
