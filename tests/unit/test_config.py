"""Settings: defaults, reading ``activejob_*`` keys from a Celery app, validation, typo warnings."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import Celery

from activejob_celery import ConfigurationError, Settings, current_settings, init_app
from activejob_celery.config import known_keys, use_settings


@pytest.fixture
def aj_memory_app() -> Iterator[Celery]:
    app = Celery("unit_config", broker="memory://", set_as_current=False)
    yield app
    app.close()


def test_defaults():
    settings = Settings()
    assert settings.queue_adapter == "celery"
    assert settings.default_queue_name == "default"
    assert settings.queue_name_prefix is None
    assert settings.queue_name_delimiter == "_"
    assert settings.default_priority is None
    assert settings.retry_jitter == 0.15
    assert settings.log_arguments is True
    assert settings.default_locale == "en"
    assert settings.default_timezone == "UTC"
    assert settings.scheduler is None
    assert settings.dead_letters_url is None
    assert settings.dead_letters_max == 10_000
    assert settings.dead_letters_ttl == 180 * 24 * 3600
    assert settings.recurring_schedule is None
    assert settings.key_prefix == "activejob"


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().default_queue_name = "x"  # type: ignore[misc]


def test_from_app_reads_activejob_keys(aj_memory_app):
    aj_memory_app.conf.update(
        activejob_default_queue_name="jobs",
        activejob_queue_name_prefix="prod",
        activejob_queue_name_delimiter=".",
        activejob_default_priority=5,
        activejob_retry_jitter=0,
        activejob_log_arguments=False,
        activejob_queue_adapter="inline",
        activejob_scheduler="celery",
        activejob_dead_letters_ttl=timedelta(days=1),
    )
    settings = Settings.from_app(aj_memory_app)
    assert settings.default_queue_name == "jobs"
    assert settings.queue_name_prefix == "prod"
    assert settings.queue_name_delimiter == "."
    assert settings.default_priority == 5
    assert settings.retry_jitter == 0
    assert settings.log_arguments is False
    assert settings.queue_adapter == "inline"
    assert settings.scheduler == "celery"
    assert settings.dead_letters_ttl == 86400.0


def test_from_app_without_keys_gives_defaults_and_none_means_default(aj_memory_app):
    assert Settings.from_app(aj_memory_app) == Settings()
    aj_memory_app.conf.activejob_default_queue_name = None
    assert Settings.from_app(aj_memory_app).default_queue_name == "default"


def test_celery_namespaced_keys_are_read(recwarn):
    class DjangoStyleSettings:
        CELERY_BROKER_URL = "memory://"
        CELERY_ACTIVEJOB_DEFAULT_QUEUE_NAME = "django_jobs"
        CELERY_ACTIVEJOB_RETRY_JITTER = 0.5

    app = Celery("unit_namespaced", set_as_current=False)
    app.config_from_object(DjangoStyleSettings, namespace="CELERY")
    settings = Settings.from_app(app)
    assert settings.default_queue_name == "django_jobs"
    assert settings.retry_jitter == 0.5
    assert not [w for w in recwarn if "Unknown setting" in str(w.message)]
    app.close()


def test_unknown_key_warns_with_a_close_match(aj_memory_app, caplog):
    aj_memory_app.conf.activejob_retry_jiter = 0.3
    with pytest.warns(UserWarning, match="Unknown setting 'activejob_retry_jiter' is ignored") as w:
        settings = Settings.from_app(aj_memory_app)
    assert "did you mean 'activejob_retry_jitter'?" in str(w[0].message)
    assert settings.retry_jitter == 0.15
    # Logged too: worker daemons often hide warnings.
    assert any("activejob_retry_jiter" in r.getMessage() for r in caplog.records)


def test_unknown_key_without_a_close_match_just_warns(aj_memory_app):
    aj_memory_app.conf.activejob_completely_unrelated = 1
    with pytest.warns(UserWarning) as w:
        Settings.from_app(aj_memory_app)
    message = str(w[0].message)
    assert message == "Unknown setting 'activejob_completely_unrelated' is ignored"


def test_unknown_namespaced_key_warns_with_its_own_spelling():
    class Config:
        CELERY_ACTIVEJOB_DEFAULT_QUEUE = "x"

    app = Celery("unit_ns_typo", broker="memory://", set_as_current=False)
    app.config_from_object(Config, namespace="CELERY")
    with pytest.warns(UserWarning, match="'CELERY_ACTIVEJOB_DEFAULT_QUEUE' is ignored") as w:
        Settings.from_app(app)
    assert "did you mean 'CELERY_ACTIVEJOB_DEFAULT_QUEUE_NAME'?" in str(w[0].message)
    app.close()


@pytest.mark.parametrize(
    "key",
    [
        "ACTIVEJOB_DEFAULT_QUEUE_NAME",
        "Activejob_default_queue_name",
        "celery_activejob_default_queue_name",
    ],
)
def test_spellings_celery_never_reads_warn_instead_of_vanishing(aj_memory_app, key):
    aj_memory_app.conf.update({key: "lost"})
    with pytest.warns(UserWarning, match=f"Unknown setting '{key}' is ignored") as w:
        settings = Settings.from_app(aj_memory_app)
    assert "did you mean 'activejob_default_queue_name'?" in str(w[0].message)
    assert settings.default_queue_name == "default"


def test_other_keys_are_not_our_business(aj_memory_app, recwarn):
    aj_memory_app.conf.update(task_default_queue="celery_default", my_app_setting=1)
    Settings.from_app(aj_memory_app)
    assert not [w for w in recwarn if "Unknown setting" in str(w.message)]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"queue_adapter": "sidekiq"}, "activejob_queue_adapter='sidekiq'; use one of"),
        ({"scheduler": "cron"}, "activejob_scheduler='cron'"),
        ({"retry_jitter": "0.1"}, "activejob_retry_jitter must be a number"),
        ({"retry_jitter": True}, "activejob_retry_jitter must be a number"),
        ({"retry_jitter": -0.1}, "activejob_retry_jitter must not be negative"),
        ({"scheduler_poll_interval": 0}, "activejob_scheduler_poll_interval must be a positive"),
        ({"scheduler_lease": -1}, "activejob_scheduler_lease must be a positive"),
        ({"dead_letters_ttl": "1d"}, "activejob_dead_letters_ttl must be a positive"),
        ({"scheduler_batch_size": 0}, "activejob_scheduler_batch_size must be a positive integer"),
        ({"dead_letters_max": 1.5}, "activejob_dead_letters_max must be a positive integer"),
        ({"dead_letters_raw_max_bytes": True}, "activejob_dead_letters_raw_max_bytes must be"),
    ],
)
def test_invalid_values_are_configuration_errors(changes, fragment):
    with pytest.raises(ConfigurationError, match=fragment.replace("(", r"\(")):
        Settings(**changes)


def test_invalid_value_in_the_app_config_fails_from_app(aj_memory_app):
    aj_memory_app.conf.activejob_queue_adapter = "resque"
    with pytest.raises(ConfigurationError, match="'resque'"):
        Settings.from_app(aj_memory_app)


def test_timedelta_durations_become_seconds():
    settings = Settings(scheduler_poll_interval=timedelta(milliseconds=250), scheduler_lease=5)
    assert settings.scheduler_poll_interval == 0.25
    assert settings.scheduler_lease == 5


@pytest.mark.parametrize(
    ("scheduler", "broker", "expected"),
    [
        (None, "redis://localhost:6379/0", "redis"),
        (None, "rediss://host/0", "redis"),
        (None, "redis+socket:///tmp/redis.sock", "redis"),
        (None, "amqp://guest@localhost//", "celery"),
        (None, None, "celery"),
        ("celery", "redis://localhost/0", "celery"),
        ("redis", "amqp://localhost//", "redis"),
    ],
)
def test_resolved_scheduler(scheduler, broker, expected):
    assert Settings(scheduler=scheduler).resolved_scheduler(broker) == expected


def test_redis_keys_live_under_the_key_prefix():
    assert Settings().key("scheduled") == "activejob:scheduled"
    assert Settings(key_prefix="shop").key("dead", "index") == "shop:dead:index"


def test_known_keys_cover_every_field():
    assert known_keys() == [f"activejob_{f.name}" for f in dataclasses.fields(Settings)]
    assert "activejob_default_queue_name" in known_keys()


def test_use_settings_swaps_the_current_settings():
    mine = Settings(default_queue_name="mine")
    previous = use_settings(mine)
    try:
        assert current_settings() is mine
    finally:
        use_settings(previous)
    assert current_settings() is previous


def test_init_app_makes_the_app_settings_current(aj_memory_app, caplog):
    caplog.set_level(logging.WARNING)
    aj_memory_app.conf.activejob_default_queue_name = "from_init"
    settings = init_app(aj_memory_app)
    assert current_settings() is settings
    assert settings.default_queue_name == "from_init"
    # init_app configures ten exact priority steps on the transport.
    assert aj_memory_app.conf.broker_transport_options["priority_steps"] == list(range(10))
