"""Seed 001, "Background Jobs Reference" (Solid Queue setup, jobs, scheduling, testing, monitoring).

One test per ```ruby block of ../shared/seeds/001_1eee392408365147.txt, in order, plus the
guide's recurring.yml blocks; see README.md.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator
from datetime import date, datetime, time as clock, timedelta, timezone
from typing import Any

import pytest
from celery import Celery

import activejob_celery
from activejob_celery import (
    EXPONENTIALLY_LONGER,
    ApplicationJob,
    after_perform,
    around_perform,
    before_perform,
    discard_on,
    init_app,
    queue_as,
    queue_with_priority,
    rescue_from,
    retry_on,
)
from activejob_celery.dead_letters import store_for
from activejob_celery.recurring import load_recurring
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.testing import (
    TestAdapter,
    assert_enqueued_with,
    assert_no_enqueued_jobs,
    enqueued_jobs,
    perform_enqueued_jobs,
)
from tests.seeds.records import Record, RecordNotFound, Table, deliveries, welcome
from tests.support.seeds import BUFFER, SeedWorker, asgi_get

QUEUES = ["default", "mailers", "high_priority", "notifications", "payments", "maintenance"]

log = logging.getLogger("seeds.001")


class User(Record):
    model = "User"


class Order(Record):
    model = "Order"


class PaymentGatewayError(Exception): ...


class InvalidCardError(Exception): ...


class Deadlocked(Exception):
    """ActiveRecord::Deadlocked."""


class MailerError(Exception): ...


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    Table.rows.clear()
    deliveries.clear()
    yield
    Table.rows.clear()


# --- 1. Installation ---------------------------------------------------------------------------


def test_installation_gemfile_is_pip_install() -> None:
    """Installation: ``gem "solid_queue"`` / ``gem "mission_control-jobs"``.

    A Gemfile has no Python meaning; the equivalent is that the package and its dashboard import.
    """
    assert activejob_celery.__version__
    web = importlib.import_module("activejob_celery.web")  # the "[web]" extra: Mission Control
    assert callable(web.create_app)


# --- 2. Application Configuration --------------------------------------------------------------


class QueueDatabaseJob(ApplicationJob):
    def perform(self) -> None: ...


def test_application_configuration_queue_database(seed: SeedWorker) -> None:
    """Application Configuration: ``config.active_job.queue_adapter = :solid_queue``.

    The adapter choice is ``init_app(app)``; the queue database is the broker URL (Redis db 2).
    """
    queue_db = seed.server.client(2)
    queue_db.flushdb()
    app = Celery("queue_db", broker=seed.server.url(2), set_as_current=False)
    init_app(app)
    try:
        assert QueueDatabaseJob.perform_later().successfully_enqueued
        assert any(b"default" in key for key in queue_db.scan_iter())
    finally:
        app.close()
        queue_db.flushdb()


# --- 3. Basic Job ------------------------------------------------------------------------------


class SendWelcomeEmailJob(ApplicationJob):
    queue_as("default")

    def perform(self, user_id: int) -> None:
        user = Table.find(User, user_id)
        welcome(user).deliver_now()
        BUFFER.add(user_id)


def test_basic_job_sends_the_welcome_mail(seed: SeedWorker) -> None:
    """Basic Job: ``class SendWelcomeEmailJob ... User.find(user_id);
    UserMailer.welcome(user)``.
    """
    user = Table.create(User, attributes={"email": "ann@example.com"})
    SendWelcomeEmailJob.perform_later(user.id)
    seed.wait_for_values(1)
    assert [mail.to for mail in deliveries] == [["ann@example.com"]]


# --- 4. Queue Names ----------------------------------------------------------------------------


class QueuedWelcomeJob(ApplicationJob):  # the seed's second SendWelcomeEmailJob
    queue_as("mailers")  # Specific queue

    @queue_as  # Or dynamic queue (the later declaration wins, as in Ruby)
    def queue(self) -> str:
        return "high_priority" if self.arguments[0].attributes.get("premium") else "default"

    def perform(self, user: User) -> None:
        BUFFER.add((self.queue_name, user.id))


def test_queue_names_static_then_dynamic(seed: SeedWorker) -> None:
    """Queue Names: ``queue_as :mailers`` then ``queue_as do user.premium? ? ... end``."""
    premium, plain = Table.create(User, attributes={"premium": True}), Table.create(User)
    QueuedWelcomeJob.perform_later(premium)
    QueuedWelcomeJob.perform_later(plain)
    assert sorted(seed.wait_for_values(2)) == [
        ("default", plain.id),
        ("high_priority", premium.id),
    ]


# --- 5. Job Priority ---------------------------------------------------------------------------


class UrgentNotificationJob(ApplicationJob):
    queue_as("notifications")

    def perform(self, user_id: int) -> None:
        BUFFER.add((user_id, self.priority))


def test_job_priority_enqueue_with_priority_10(seed: SeedWorker) -> None:
    """Job Priority: ``queue_adapter.enqueue self, priority: 10``.

    Its comment "Higher number = higher priority" is wrong for Solid Queue
    and here: a lower number runs first. The job runs with 10.
    """
    job = UrgentNotificationJob(7).enqueue(priority=10)
    assert job and job.priority == 10
    assert seed.wait_for_values(1) == [(7, 10)]


# --- 6. Retry Configuration --------------------------------------------------------------------


class ProcessPaymentJob(ApplicationJob):
    queue_as("payments")
    retry_on(PaymentGatewayError, wait=EXPONENTIALLY_LONGER, attempts=5)
    discard_on(InvalidCardError)
    retry_on(Deadlocked, wait=timedelta(seconds=5), attempts=3)

    def perform(self, order_id: int) -> None:
        order = Table.find(Order, order_id)
        BUFFER.add(("charge", order.id))
        PaymentGateway.charge(order)


class PaymentGateway:
    @staticmethod
    def charge(order: Order) -> None:
        error = order.attributes.get("error")
        if error:
            raise error()
        order.status = "paid"


def test_retry_configuration_discards_invalid_cards(seed: SeedWorker) -> None:
    """Retry Configuration: ``discard_on InvalidCardError`` (runs once, no retry)."""
    bad = Table.create(Order, attributes={"error": InvalidCardError})
    good = Table.create(Order)
    ProcessPaymentJob.perform_later(bad.id)
    ProcessPaymentJob.perform_later(good.id)
    assert seed.wait_for_values(2) == [("charge", bad.id), ("charge", good.id)]
    seed.wait_until(lambda: good.status == "paid")
    assert scheduled_set_for(seed.app).count() == 0  # no retry waiting


@pytest.mark.parametrize(("error", "wait"), [(PaymentGatewayError, 3), (Deadlocked, 5)])
def test_retry_configuration_schedules_retries(
    adapter: TestAdapter, error: type[Exception], wait: float
) -> None:
    """Retry Configuration: ``retry_on PaymentGatewayError, wait: :exponentially_longer`` /
    Deadlocked.
    """
    order = Table.create(Order, attributes={"error": error})
    started = datetime.now(timezone.utc)
    ProcessPaymentJob.perform_now(order.id)
    retry = assert_enqueued_with(job=ProcessPaymentJob, args=[order.id], queue="payments")
    assert (
        timedelta(seconds=wait) <= retry.scheduled_at - started < timedelta(seconds=wait * 1.2 + 1)
    )


# --- 7. Job Callbacks --------------------------------------------------------------------------


class ReportGenerationJob(ApplicationJob):
    before_perform("log_start")
    after_perform("log_completion")
    around_perform("measure_time")

    def perform(self, report_id: int) -> None:
        BUFFER.add(("generate", report_id))

    def log_start(self) -> None:
        BUFFER.add(("start", self.arguments[0]))

    def log_completion(self) -> None:
        BUFFER.add(("completed", self.arguments[0]))

    def measure_time(self) -> Iterator[None]:
        started = time.monotonic()
        yield
        BUFFER.add(("took", time.monotonic() >= started))


def test_job_callbacks_before_after_around(seed: SeedWorker) -> None:
    """Job Callbacks: ``before_perform :log_start; after_perform :log_completion;
    around_perform``.
    """
    ReportGenerationJob.perform_later(5)
    # Declaration order, as Rails: the after callback is declared before the around, so it is
    # outside it and runs last.
    assert seed.wait_for_values(4) == [
        ("start", 5),
        ("generate", 5),
        ("took", True),
        ("completed", 5),
    ]


# --- 8. Enqueue Immediately --------------------------------------------------------------------


def test_enqueue_immediately_and_with_options(seed: SeedWorker) -> None:
    """Enqueue Immediately: ``perform_later(user.id)`` and ``set(queue: :high_priority,
    priority: 10)``.
    """
    user = Table.create(User)
    SendWelcomeEmailJob.perform_later(user.id)
    job = SendWelcomeEmailJob.set(queue="high_priority", priority=10).perform_later(user.id)
    assert (job.queue_name, job.priority) == ("high_priority", 10)
    assert seed.wait_for_values(2) == [user.id, user.id]


# --- 9. Delayed Execution ----------------------------------------------------------------------


class SendReminderJob(ApplicationJob):
    def perform(self, user_id: int | None = None) -> None: ...


class SendNewsletterJob(ApplicationJob):
    def perform(self) -> None: ...


def test_delayed_execution_wait_and_wait_until(adapter: TestAdapter) -> None:
    """Delayed Execution: ``set(wait: 1.hour)``, ``set(wait: 2.days)``, ``wait_until: <a
    time>``.
    """
    now = datetime.now(timezone.utc)
    SendReminderJob.set(wait=timedelta(hours=1)).perform_later(1)
    SendReminderJob.set(wait=timedelta(days=2)).perform_later(2)  # ExportDataJob
    noon = datetime.combine(date.today() + timedelta(days=1), clock(12), tzinfo=timezone.utc)
    SendNewsletterJob.set(wait_until=noon).perform_later()
    first, second, newsletter = enqueued_jobs()
    assert first["at"] - now.timestamp() >= 3600
    assert second["at"] - now.timestamp() >= 2 * 86400
    assert newsletter["at"] == noon.timestamp()


def test_delayed_execution_date_tomorrow_noon_naive(adapter: TestAdapter) -> None:
    """Delayed Execution: ``SendNewsletterJob.set(wait_until: Date.tomorrow.noon)`` (a naive
    time).
    """
    noon = datetime.combine(date.today() + timedelta(days=1), clock(12))  # no tzinfo
    job = SendNewsletterJob.set(wait_until=noon).perform_later()
    assert job.successfully_enqueued, job.enqueue_error
    assert enqueued_jobs()[0]["at"] == noon.replace(tzinfo=timezone.utc).timestamp()


# --- 10. Bulk Enqueuing ------------------------------------------------------------------------


def test_bulk_enqueuing_find_each_and_perform_all_later(seed: SeedWorker) -> None:
    """Bulk Enqueuing: ``User.find_each { perform_later }`` and
    ``ActiveJob.perform_all_later(jobs)``.
    """
    users = [Table.create(User) for _ in range(5)]
    for user in users:
        SendWelcomeEmailJob.perform_later(user.id)
    jobs = [SendWelcomeEmailJob(user.id) for user in users]
    activejob_celery.perform_all_later(jobs)
    assert all(job.successfully_enqueued for job in jobs)
    assert sorted(seed.wait_for_values(10)) == sorted([u.id for u in users] * 2)


# --- 11. Conditional Enqueuing -----------------------------------------------------------------


class ConfirmableUser(User):
    @classmethod
    def create(cls, **attributes: Any) -> ConfirmableUser:
        user: ConfirmableUser = Table.create(cls, **attributes)
        user.send_welcome_email()  # after_create :send_welcome_email
        return user

    def send_welcome_email(self) -> None:
        if self.attributes.get("confirmed"):
            SendWelcomeEmailJob.perform_later(self.id)


def test_conditional_enqueuing_after_create(seed: SeedWorker) -> None:
    """Conditional Enqueuing: ``after_create :send_welcome_email ... perform_later(id) if
    confirmed?``.
    """
    ConfirmableUser.create()
    confirmed = ConfirmableUser.create(attributes={"confirmed": True})
    assert seed.wait_for_values(1) == [confirmed.id]  # FIFO: an unconfirmed job would be first


# --- 12. Recurring Job Class (and the recurring.yml blocks) ------------------------------------


class CleanupJob(ApplicationJob):
    queue_as("maintenance")

    def perform(self) -> None:
        cutoff = time.time() - 90 * 86400
        for key, row in list(Table.rows.items()):
            if row.attributes.get("created_at", time.time()) < cutoff:
                del Table.rows[key]
        log.info("Cleanup completed")
        BUFFER.add("cleaned")


class DailyDigestJob(ApplicationJob):
    def perform(self, kind: str) -> None: ...


def test_recurring_job_class_cleans_old_records(seed: SeedWorker) -> None:
    """Recurring Job Class: ``class CleanupJob ... OldRecord.where("created_at < ?",
    90.days.ago)``.
    """
    old = Table.create(Record, attributes={"created_at": time.time() - 100 * 86400})
    new = Table.create(Record, attributes={"created_at": time.time()})
    CleanupJob.perform_later()
    seed.wait_for_values(1)
    assert ("Record", old.id) not in Table.rows and ("Record", new.id) in Table.rows


def test_recurring_yml_solid_queue_phrases() -> None:
    """Configuration (yaml): ``class: CleanupJob / schedule: every day at 2am`` ... per
    environment.
    """
    # ``class: CleanupJob`` as written works when the bare name is unique in the app; the test
    # suite shares one registry (other modules define the same names), so entries give job_name.
    document = {
        "production": {
            "cleanup_old_records": {"class": CleanupJob.job_name, "schedule": "every day at 2am"},
            "send_daily_digest": {
                "class": DailyDigestJob.job_name,
                "schedule": "every day at 8am",
                "args": ["digest"],
            },
            "process_payments": {"class": CleanupJob.job_name, "schedule": "every 15 minutes"},
            "generate_reports": {
                "class": DailyDigestJob.job_name,
                "schedule": "every monday at 9am",
                "args": ["weekly"],
            },
        },
        "development": {"test_job": {"class": CleanupJob.job_name, "schedule": "every 5 minutes"}},
    }
    jobs = {job.key: job for job in load_recurring(document, environment="production")}
    assert jobs["cleanup_old_records"].schedule.cron == "0 2 * * *"
    assert jobs["send_daily_digest"].args == ["digest"]
    assert jobs["process_payments"].schedule.cron == "*/15 * * * *"
    assert jobs["generate_reports"].schedule.cron == "0 9 * * 1"
    [dev] = load_recurring(document, environment="development")
    assert dev.schedule.cron == "*/5 * * * *"


@pytest.mark.parametrize(
    "phrase",
    [
        "every 5 minutes",
        "every 2 hours",
        "every day",
        "every day at 3pm",
        "every monday at 9am",
        "every 1st of month at 8am",
        "every day at 9am America/New_York",
    ],
)
def test_schedule_syntax_phrases(phrase: str) -> None:
    """Schedule Syntax (yaml): each ``schedule:`` phrase of the guide loads."""
    [job] = load_recurring({"entry": {"class": CleanupJob.job_name, "schedule": phrase}})
    assert job.next_time(datetime(2030, 1, 1, tzinfo=timezone.utc)) > datetime(
        2030, 1, 1, tzinfo=timezone.utc
    )


def test_schedule_syntax_multiple_times() -> None:
    """Schedule Syntax (yaml): ``schedule: every day at 9am, 3pm, 9pm``."""
    [job] = load_recurring(
        {"entry": {"class": CleanupJob.job_name, "schedule": "every day at 9am, 3pm, 9pm"}}
    )
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    first = job.next_time(start)
    second = job.next_time(first)
    third = job.next_time(second)
    assert [first.hour, second.hour, third.hour] == [9, 15, 21]


# --- 13. Basic Job Test (RSpec) ----------------------------------------------------------------


class MailersWelcomeJob(SendWelcomeEmailJob):  # the spec expects queue "mailers"
    queue_as("mailers")


def test_basic_job_test_rspec_examples(adapter: TestAdapter) -> None:
    """Basic Job Test: ``RSpec.describe SendWelcomeEmailJob, type: :job`` (five examples)."""
    user = Table.create(User, attributes={"email": "bo@example.com"})
    before = len(deliveries)
    MailersWelcomeJob.perform_now(user.id)
    assert len(deliveries) == before + 1  # change { deliveries.count }.by(1)
    mail = deliveries[-1]
    assert "bo@example.com" in mail.to and "welcome" in mail.subject.lower()
    assert_enqueued_with(job=MailersWelcomeJob, args=[user.id],
                         block=lambda: MailersWelcomeJob.perform_later(user.id))  # fmt: skip
    assert_enqueued_with(queue="mailers", block=lambda: MailersWelcomeJob.perform_later(user.id))
    in_an_hour = datetime.now(timezone.utc) + timedelta(hours=1)
    assert_enqueued_with(
        at=lambda at: abs((at - in_an_hour).total_seconds()) < 5,
        args=[user.id],
        block=lambda: MailersWelcomeJob.set(wait=timedelta(hours=1)).perform_later(user.id),
    )


# --- 14. Testing Retries -----------------------------------------------------------------------


def test_testing_retries_retry_and_discard(adapter: TestAdapter) -> None:
    """Testing Retries: ``it "retries on payment gateway error"``, ``"discards ..."``.

    As in Rails, ``perform_now`` of a job with ``retry_on`` enqueues the retry instead of raising.
    """
    order = Table.create(Order, attributes={"error": PaymentGatewayError})
    ProcessPaymentJob.perform_now(order.id)
    assert_enqueued_with(job=ProcessPaymentJob, args=[order.id])
    activejob_celery.testing.clear_enqueued_jobs()
    order.attributes["error"] = InvalidCardError
    ProcessPaymentJob.perform_now(order.id)  # not_to raise_error
    assert_no_enqueued_jobs()  # discarded, not retried


# --- 15. Testing with perform_enqueued_jobs ----------------------------------------------------


def register(email: str, name: str) -> User:
    """``post users_path, params: {user: {...}}``."""
    user: User = Table.create(User, attributes={"email": email, "name": name})
    SendWelcomeEmailJob.perform_later(user.id)
    return user


def test_testing_with_perform_enqueued_jobs(adapter: TestAdapter) -> None:
    """Testing with perform_enqueued_jobs: ``RSpec.describe "User registration", type:
    :request``.
    """
    perform_enqueued_jobs(block=lambda: register("user@example.com", "John"))
    assert len(deliveries) == 1
    assert "user@example.com" in deliveries[-1].to


# --- 16. Mission Control -----------------------------------------------------------------------


def test_mission_control_mounted_at_jobs(seed: SeedWorker) -> None:
    """Mission Control: ``mount MissionControl::Jobs::Engine, at: "/jobs"`` → the dashboard
    app.
    """
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from activejob_celery.web import create_app

    site = Starlette(routes=[Mount("/jobs", app=create_app(seed.app, username="a", password="b"))])
    assert asgi_get(site, "/jobs/")[0] == 401
    status, body = asgi_get(site, "/jobs/", basic_auth=("a", "b"))
    assert status == 200 and b"activejob-celery dashboard" in body


# --- 17. Logging -------------------------------------------------------------------------------


class LoggedJob(ApplicationJob):  # the seed's MyJob
    around_perform("log_performance")

    def perform(self, user_id: int) -> None:
        log.info("Processing user %s", user_id)

    def log_performance(self) -> Iterator[None]:
        started = time.monotonic()
        yield
        log.info("Job completed in %.3fs", time.monotonic() - started)
        BUFFER.add("logged")


def test_logging_around_perform(seed: SeedWorker, caplog: pytest.LogCaptureFixture) -> None:
    """Logging: ``around_perform :log_performance ... Rails.logger.info "Job completed in
    ..."``.
    """
    with caplog.at_level(logging.INFO, logger="seeds.001"):
        LoggedJob.perform_later(3)
        seed.wait_for_values(1)
    assert "Processing user 3" in caplog.text and "Job completed in" in caplog.text


# --- 18. Error Tracking ------------------------------------------------------------------------


class TrackedJob(ApplicationJob):  # the seed's second MyJob
    @rescue_from(Exception)
    def notify(self, exception: Exception) -> None:
        BUFFER.add((type(self).__name__, self.arguments, str(exception)))  # ErrorTracker.notify
        raise exception  # Re-raise

    def perform(self, user_id: int) -> None:
        raise RuntimeError(f"user {user_id} failed")


def test_error_tracking_notifies_and_re_raises(seed: SeedWorker) -> None:
    """Error Tracking: ``rescue_from StandardError do ... ErrorTracker.notify ... raise exception``.

    Re-raised, the job fails for good (no ``retry_on`` matches) and is kept as a dead letter.
    """
    TrackedJob.perform_later(4)
    assert seed.wait_for_values(1) == [("TrackedJob", [4], "user 4 failed")]
    store = store_for(seed.app)
    letter = seed.wait_until(lambda: store.list(job_class="TrackedJob"))[0]
    assert letter.error_message == "user 4 failed"


# --- 19. Metrics -------------------------------------------------------------------------------

METRICS: list[tuple[str, ...]] = []


class MetricsBaseJob(ApplicationJob, abstract=True):  # class ApplicationJob < ActiveJob::Base
    around_perform("track_metrics")

    def track_metrics(self) -> Iterator[None]:
        try:
            yield
            METRICS.append(("jobs.success", f"job:{type(self).__name__}"))
        except Exception as error:
            METRICS.append(("jobs.failure", f"job:{type(self).__name__}", type(error).__name__))
            raise
        finally:
            BUFFER.add("tracked")


class CountedJob(MetricsBaseJob):
    def perform(self, fail: bool) -> None:
        if fail:
            raise ValueError("bad")


def test_metrics_success_and_failure(seed: SeedWorker) -> None:
    """Metrics: ``around_perform :track_metrics ... rescue => e;
    Metrics.increment("jobs.failure")``.
    """
    METRICS.clear()
    CountedJob.perform_later(False)
    CountedJob.perform_later(True)
    seed.wait_for_values(2)
    assert METRICS == [
        ("jobs.success", "job:CountedJob"),
        ("jobs.failure", "job:CountedJob", "ValueError"),
    ]


# --- 20. Keep Jobs Idempotent ------------------------------------------------------------------


class UpdateUserStatusJob(ApplicationJob):
    def perform(self, user_id: int) -> None:
        user = Table.find(User, user_id)
        if user.status != "active":
            user.status = "active"
            user.log.append("activated")
        BUFFER.add("status")


class IncrementCounterJob(ApplicationJob):
    def perform(self, user_id: int) -> None:
        user = Table.find(User, user_id)
        user.attributes["login_count"] = user.attributes.get("login_count", 0) + 1
        BUFFER.add("increment")


def test_keep_jobs_idempotent_good_and_bad(seed: SeedWorker) -> None:
    """Keep Jobs Idempotent: ``# GOOD - Idempotent`` (UpdateUserStatusJob) / ``# BAD``
    (increment!).
    """
    user = Table.create(User)
    for _ in range(2):
        UpdateUserStatusJob.perform_later(user.id)
        IncrementCounterJob.perform_later(user.id)
    seed.wait_for_values(4)
    assert user.log == ["activated"]  # ran twice, changed once
    assert user.attributes["login_count"] == 2  # "Dangerous if job runs twice"


# --- 21. Pass IDs, Not Objects -----------------------------------------------------------------


class SendEmailJob(ApplicationJob):
    def perform(self, user: int | User) -> None:
        fresh = Table.find(User, user) if isinstance(user, int) else user
        BUFFER.add(fresh.attributes["name"])


def test_pass_ids_not_objects(seed: SeedWorker) -> None:
    """Pass IDs, Not Objects: ``SendEmailJob.perform_later(user.id)`` / ``perform_later(user)``.

    A record passed as an object travels as a GlobalID and is fetched again too.
    """
    user = Table.create(User, attributes={"name": "old"})
    SendEmailJob.perform_later(user.id)
    assert seed.wait_for_values(1) == ["old"]
    assert SendEmailJob(user).serialize()["arguments"] == [
        {"_aj_globalid": f"gid://seeds/User/{user.id}"}
    ]


# --- 22. Break Large Jobs into Smaller Ones ----------------------------------------------------


class ProcessItemJob(ApplicationJob):
    def perform(self, item_id: int) -> None:
        BUFFER.add(item_id)


class ProcessBatchJob(ApplicationJob):
    def perform(self, batch_id: int) -> None:
        for item_id in range(batch_id * 10, batch_id * 10 + 5):  # batch.items.find_each
            ProcessItemJob.perform_later(item_id)


class ProcessAllItemsJob(ApplicationJob):
    def perform(self) -> None:
        for item_id in range(3):
            BUFFER.add(("inline", item_id))  # item.process!


def test_break_large_jobs_into_smaller_ones(seed: SeedWorker) -> None:
    """Break Large Jobs into Smaller Ones: ``ProcessBatchJob`` enqueues ``ProcessItemJob`` per
    item.
    """
    ProcessBatchJob.perform_later(2)
    assert sorted(seed.wait_for_values(5)) == [20, 21, 22, 23, 24]
    ProcessAllItemsJob.perform_later()  # BAD - One huge job (still works, just does not split)
    seed.wait_for_values(8)


# --- 23. Handle Failures Gracefully ------------------------------------------------------------


class GracefulNewsletterJob(ApplicationJob):  # the seed's SendNewsletterJob
    retry_on(MailerError, wait=EXPONENTIALLY_LONGER, attempts=5)

    @discard_on(RecordNotFound)
    def user_not_found(self, error: RecordNotFound) -> None:
        BUFFER.add(("discarded", self.arguments[0]))  # Rails.logger.error "User not found"

    def perform(self, user_id: int) -> None:
        try:
            user = Table.find(User, user_id)
            BUFFER.add(("sent", user.id))
        except Exception:
            BUFFER.add(("tracked", user_id))  # ErrorTracker.notify(e, user_id: user_id)
            raise


def test_handle_failures_gracefully(seed: SeedWorker) -> None:
    """Handle Failures Gracefully: ``discard_on ActiveRecord::RecordNotFound do |job, error|``."""
    GracefulNewsletterJob.perform_later(404)
    assert seed.wait_for_values(2) == [("tracked", 404), ("discarded", 404)]


# --- 24. Set Appropriate Timeouts --------------------------------------------------------------


class TimedJob(ApplicationJob):  # the seed's LongRunningJob
    queue_with_priority(5)

    def perform(self) -> None:
        BUFFER.add(self.priority)


def test_set_appropriate_timeouts_queue_with_priority(seed: SeedWorker) -> None:
    """Set Appropriate Timeouts: ``queue_with_priority 5``."""
    TimedJob.perform_later()
    assert seed.wait_for_values(1) == [5]


def test_set_appropriate_timeouts_timeout_raises_inside_perform() -> None:
    """Set Appropriate Timeouts: ``Timeout.timeout(5.minutes) do ... rescue Timeout::Error``."""
    error_class = activejob_celery.JobTimeoutError  # type: ignore[attr-defined]

    class SlowJob(ApplicationJob):
        timeout = timedelta(seconds=0.2)

        def perform(self) -> None:
            try:
                time.sleep(2)
            except error_class:
                BUFFER.add("timed out")  # Rails.logger.error "Job timed out"
                raise

    with pytest.raises(error_class):
        SlowJob.perform_now()
    assert BUFFER.values == ["timed out"]
