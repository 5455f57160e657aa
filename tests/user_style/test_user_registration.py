"""The guides' "Testing with perform_enqueued_jobs": registration sends the welcome mail."""

from __future__ import annotations

from activejob_celery.testing import (
    assert_enqueued_with,
    assert_performed_with,
    performing_enqueued_jobs,
)
from tests.user_style.shop import Mail, WelcomeEmailJob, register_user


def test_sends_welcome_email_after_registration(deliveries: list[Mail]) -> None:
    with performing_enqueued_jobs():
        user = register_user(email="user@example.com", name="John")

    assert len(deliveries) == 1
    assert "user@example.com" in deliveries[-1].to
    assert_performed_with(job=WelcomeEmailJob, args=[user])


def test_registration_enqueues_the_welcome_email(deliveries: list[Mail]) -> None:
    user = register_user(email="user@example.com", name="John")

    assert_enqueued_with(job=WelcomeEmailJob, args=[user], queue="default")
    assert deliveries == []
