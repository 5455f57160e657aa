"""repr() of settings, stores and URLs never shows a password, token or secret."""

from __future__ import annotations

import pytest

from activejob_celery.config import Settings, redact_url
from activejob_celery.dead_letters.redis_store import RedisDeadLetterStore

SECRET = "hunter2"


def test_settings_repr_masks_passwords_tokens_secrets_and_url_passwords() -> None:
    settings = Settings(
        smtp_user="mailer",
        smtp_password=SECRET,
        web_username="admin",
        web_password=SECRET,
        web_token=SECRET,
        web_secret=SECRET,
        dead_letters_url=f"redis://:{SECRET}@redis.internal:6379/2",
        scheduler_url=f"rediss://jobs:{SECRET}@redis.internal:6380/0?ssl_cert_reqs=required",
    )
    text = repr(settings)
    assert SECRET not in text
    assert str(settings) == text
    assert "smtp_password='***'" in text and "web_token='***'" in text
    assert "web_password='***'" in text and "web_secret='***'" in text
    assert "smtp_user='mailer'" in text and "web_username='admin'" in text
    assert "dead_letters_url='redis://:***@redis.internal:6379/2'" in text
    assert "scheduler_url='rediss://jobs:***@redis.internal:6380/0?ssl_cert_reqs=required'" in text
    assert settings.smtp_password == SECRET  # only the repr is masked


def test_unset_secrets_show_as_none() -> None:
    text = repr(Settings())
    assert "smtp_password=None" in text and "web_token=None" in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("rediss://user:p%40ss@h/0", "rediss://user:***@h/0"),
        ("redis://h/0?password=pw&db=1", "redis://h/0?password=***&db=1"),
        (
            "sentinel://:pw@s1:26379;sentinel://:pw@s2:26379",
            "sentinel://:***@s1:26379;sentinel://:***@s2:26379",
        ),
        ("amqp://guest:guest@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        (None, None),
    ],
)
def test_redact_url(url, expected) -> None:
    assert redact_url(url) == expected


def test_dead_letter_store_repr_names_the_server_not_the_password() -> None:
    store = RedisDeadLetterStore.connect(f"redis://jobs:{SECRET}@127.0.0.1:1/3")
    text = repr(store)
    assert SECRET not in text
    assert "redis://jobs:***@127.0.0.1:1/3" in text
    assert "activejob:dead" in text
    store.close()


def test_scheduled_set_repr_names_the_server_not_the_password() -> None:
    import redis

    from activejob_celery.scheduler.store import ScheduledSet

    client = redis.Redis.from_url(f"redis://:{SECRET}@127.0.0.1:1/4")
    scheduled = ScheduledSet(client, Settings(), adapter=None, direct=False)  # type: ignore[arg-type]
    assert repr(scheduled) == "<ScheduledSet redis://:***@127.0.0.1:1/4 activejob:scheduled>"
    client.close()
