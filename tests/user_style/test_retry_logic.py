"""The guide's "Testing Retry Logic" examples, written with the pytest helpers.

The guide's first test wraps ``perform_enqueued_jobs`` in ``assert_enqueued_jobs 2  # Original +
1 retry``. That cannot pass in Rails either: inside ``perform_enqueued_jobs`` each enqueue is
performed at once and recorded as performed, not enqueued. The tests below say what was meant:
the original runs and fails, one retry is enqueued for later; run to the end, the job stops after
its last attempt and the error reaches the test.
"""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta, timezone
from typing import NoReturn

import pytest

from activejob_celery.testing import (
    assert_enqueued_jobs,
    assert_enqueued_with,
    assert_no_enqueued_jobs,
    assert_performed_jobs,
    expect_no_enqueued_jobs,
    perform_enqueued_jobs,
    performing_enqueued_jobs,
)
from tests.user_style.shop import Mail, ProcessUserJob, User, UserMailer, Users, WelcomeEmailJob


def disconnected(user: User) -> NoReturn:
    raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_retries_on_transient_error(
    users: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = users["david"]
    monkeypatch.setattr(UserMailer, "welcome", disconnected)  # UserMailer.stub(:welcome, ...)

    WelcomeEmailJob.perform_later(user)
    assert_enqueued_jobs(1)  # the original
    started = datetime.now(timezone.utc)
    perform_enqueued_jobs()  # runs it: the SMTP error is retried, not raised

    assert_performed_jobs(1)
    retry = assert_enqueued_with(  # + 1 retry, polynomially longer: 3 s on, not yet 18 s
        job=WelcomeEmailJob,
        args=[user],
        at=lambda at: timedelta(seconds=3) <= at - started < timedelta(seconds=18),
    )
    assert retry.executions == 1


def test_stops_retrying_after_the_last_attempt(
    users: dict[str, User], monkeypatch: pytest.MonkeyPatch, deliveries: list[Mail]
) -> None:
    monkeypatch.setattr(UserMailer, "welcome", disconnected)

    with pytest.raises(smtplib.SMTPServerDisconnected):  # expected to raise after retries
        perform_enqueued_jobs(block=lambda: WelcomeEmailJob.perform_later(users["david"]))

    assert_performed_jobs(WelcomeEmailJob.smtp_retry_attempts)  # 5: the original and 4 retries
    assert deliveries == []


def test_a_retry_that_succeeds_delivers_the_mail(
    users: dict[str, User], monkeypatch: pytest.MonkeyPatch, deliveries: list[Mail]
) -> None:
    welcome = UserMailer.welcome
    failures = iter([smtplib.SMTPServerDisconnected("Connection unexpectedly closed")])

    def flaky_welcome(user: User) -> Mail:
        for error in failures:
            raise error
        return welcome(user)

    monkeypatch.setattr(UserMailer, "welcome", flaky_welcome)

    with performing_enqueued_jobs():
        WelcomeEmailJob.perform_later(users["david"])

    assert [mail.to for mail in deliveries] == [["david@example.com"]]
    assert_performed_jobs(2)


def test_discards_on_permanent_error() -> None:
    assert_no_enqueued_jobs(
        block=lambda: perform_enqueued_jobs(
            block=lambda: ProcessUserJob.perform_later(999999)  # non-existent id
        )
    )
    assert_performed_jobs(1)  # discarded after one run, not retried


def test_discards_on_permanent_error_with_the_with_forms() -> None:
    with expect_no_enqueued_jobs(), performing_enqueued_jobs():
        ProcessUserJob.perform_later(999999)

    assert_performed_jobs(1, only=ProcessUserJob)


def test_processes_an_existing_user(users: dict[str, User]) -> None:
    ProcessUserJob.perform_later(users["david"].id)

    assert perform_enqueued_jobs() == 1
    assert Users.find(users["david"].id).processed
