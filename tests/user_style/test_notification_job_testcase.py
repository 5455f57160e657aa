"""The same examples as a Rails developer writes them: an ActiveJobTestCase (unittest) class."""

from __future__ import annotations

import smtplib
from unittest import mock

from activejob_celery.testing import ActiveJobTestCase
from tests.user_style.shop import (
    NotificationJob,
    ProcessUserJob,
    UserMailer,
    Users,
    WelcomeEmailJob,
)


class NotificationJobTest(ActiveJobTestCase):
    def setUp(self) -> None:
        self.david = Users.create("David", "david@example.com")

    def test_enqueues_job(self) -> None:
        self.assert_enqueued_with(
            job=NotificationJob,
            args=[self.david, "test"],
            block=lambda: NotificationJob.perform_later(self.david, "test"),
        )

    def test_performs_job(self) -> None:
        before = len(self.david.notifications)
        NotificationJob.perform_now(self.david, "test message")
        self.assertEqual(len(self.david.notifications), before + 1)

    def test_job_is_enqueued_on_correct_queue(self) -> None:
        with self.expect_enqueued_with(job=NotificationJob, queue="default"):
            NotificationJob.perform_later(self.david, "test")


class RetryLogicTest(ActiveJobTestCase):
    def test_retries_on_transient_error(self) -> None:
        user = Users.create("David", "david@example.com")
        busy = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        with mock.patch.object(UserMailer, "welcome", side_effect=busy):
            WelcomeEmailJob.perform_later(user)
            self.perform_enqueued_jobs()  # the original runs and fails

        self.assert_performed_jobs(1)
        self.assert_enqueued_jobs(1, only=WelcomeEmailJob)  # + 1 retry
        with (
            mock.patch.object(UserMailer, "welcome", side_effect=busy),
            self.assertRaises(smtplib.SMTPServerDisconnected),
        ):
            self.perform_enqueued_jobs(block=lambda: WelcomeEmailJob.perform_later(user))

    def test_discards_on_permanent_error(self) -> None:
        with self.expect_no_enqueued_jobs(), self.performing_enqueued_jobs():
            ProcessUserJob.perform_later(999999)  # non-existent id: discarded, not retried
        self.assert_performed_jobs(1)
