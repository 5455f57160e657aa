"""The guide's "Testing Jobs" examples (NotificationJobTest), written with the pytest helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from activejob_celery.testing import (
    TestHelper,
    assert_enqueued_jobs,
    assert_enqueued_with,
    expect_enqueued_with,
)
from tests.user_style.shop import NotificationJob, User


def test_enqueues_job(users: dict[str, User]) -> None:
    assert_enqueued_with(
        job=NotificationJob,
        args=[users["david"], "test"],
        block=lambda: NotificationJob.perform_later(users["david"], "test"),
    )


def test_enqueues_job_with_a_with_block(users: dict[str, User]) -> None:
    with expect_enqueued_with(job=NotificationJob, args=[users["david"], "test"]) as found:
        NotificationJob.perform_later(users["david"], "test")

    assert found.job is not None and found.job.arguments == [users["david"], "test"]


def test_performs_job(users: dict[str, User]) -> None:
    user = users["david"]
    before = len(user.notifications)  # assert_difference -> { user.notifications.count }, +1

    NotificationJob.perform_now(user, "test message")

    assert len(user.notifications) == before + 1
    assert_enqueued_jobs(0)  # perform_now runs here and enqueues nothing


def test_job_is_enqueued_on_correct_queue(users: dict[str, User]) -> None:
    with expect_enqueued_with(job=NotificationJob, queue="default"):
        NotificationJob.perform_later(users["david"], "test")


def test_enqueues_a_reminder_for_later(users: dict[str, User]) -> None:
    before = datetime.now(timezone.utc)
    NotificationJob.set(wait=timedelta(hours=1)).perform_later(users["david"], "Reminder")

    assert_enqueued_with(
        job=NotificationJob,
        args=[users["david"], "Reminder"],
        at=lambda at: at - before >= timedelta(hours=1),
    )


def test_enqueues_an_alert_at_a_given_time(users: dict[str, User]) -> None:
    in_two_hours = datetime.now(timezone.utc) + timedelta(hours=2)
    NotificationJob.set(wait_until=in_two_hours).perform_later(users["david"], "Alert")

    assert_enqueued_with(job=NotificationJob, args=[users["david"], "Alert"], at=in_two_hours)


def test_the_same_with_the_activejob_fixture(activejob: TestHelper, users: dict[str, User]) -> None:
    NotificationJob.perform_later(users["jeremy"], "Hello!")

    activejob.assert_enqueued_jobs(1, only=NotificationJob)
    activejob.assert_enqueued_with(job=NotificationJob, args=[users["jeremy"], "Hello!"])
    activejob.perform_enqueued_jobs()
    assert users["jeremy"].notifications == ["Hello!"]
