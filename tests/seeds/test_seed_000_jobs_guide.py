"""Seed 000, "Jobs Guide" (Comprehensive guide for Rails Active Job background processing).

One test per ```ruby block of ../shared/seeds/000_e49c59ae8774c76a.txt, in order; see README.md.
"""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from celery import Celery

import activejob_celery
from activejob_celery import (
    EXPONENTIALLY_LONGER,
    POLYNOMIALLY_LONGER,
    ApplicationJob,
    DeserializationError,
    after_perform,
    around_perform,
    before_perform,
    discard_on,
    init_app,
    queue_as,
    rescue_from,
    retry_on,
)
from activejob_celery.integrations.smtp import SmtpDeliveryErrorHandling
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.testing import (
    TestAdapter,
    assert_enqueued_jobs,
    assert_enqueued_with,
    assert_no_enqueued_jobs,
    enqueued_jobs,
    perform_enqueued_jobs,
)
from tests.seeds.records import Record, RecordNotFound, Table
from tests.support.seeds import BUFFER, SeedWorker
from tests.support.worker import wait_for

QUEUES = ["default", "low_priority", "webhooks", "urgent", "premium", "maintenance"]


class User(Record):
    model = "User"


class Event(Record):
    model = "Event"

    def relay_later(self) -> Any:
        return EventRelayJob.perform_later(self)

    def relay_now(self) -> None:
        BUFFER.add(("relayed", self.id))


class Card(Record):
    model = "Card"


class HTTPServerError(Exception):
    """Net::HTTPServerError."""


class TransientError(Exception): ...


class PermanentError(Exception): ...


class DatabaseError(Exception): ...


class CustomError(Exception): ...


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    Table.rows.clear()
    yield
    Table.rows.clear()


# --- 1. Simple Job -----------------------------------------------------------------------------


class NotificationJob(ApplicationJob):
    queue_as("default")

    def perform(self, user: User, message: str) -> None:
        user.log.append(message)  # user.notifications.create!(message: message)
        BUFFER.add(message)


def test_simple_job_enqueued_now_later_and_at_a_time(seed: SeedWorker) -> None:
    """Simple Job: ``NotificationJob.perform_later(user, "Hello!")``, ``set(wait: 1.hour)``,
    ``set(wait_until:)``.
    """
    user = Table.create(User)
    now = datetime.now(timezone.utc)
    assert NotificationJob.perform_later(user, "Hello!").successfully_enqueued
    later = NotificationJob.set(wait=timedelta(hours=1)).perform_later(user, "Reminder")
    at = NotificationJob.set(wait_until=now + timedelta(hours=2)).perform_later(user, "Alert")

    assert seed.wait_for_values(1) == ["Hello!"]
    assert user.log == ["Hello!"]
    assert later.successfully_enqueued and at.successfully_enqueued
    assert later.scheduled_at - now >= timedelta(hours=1)
    assert at.scheduled_at == now + timedelta(hours=2)
    waiting = {job.job_id for job in scheduled_set_for(seed.app).list()}
    assert {later.job_id, at.job_id} <= waiting  # kept for later, not run
    for job in (later, at):
        scheduled_set_for(seed.app).delete(job.job_id)


# --- 2. Job with Options -----------------------------------------------------------------------


class DataExportJob(ApplicationJob):
    queue_as("low_priority")
    retry_on(HTTPServerError, wait=EXPONENTIALLY_LONGER, attempts=5)
    retry_on(TimeoutError, wait=timedelta(seconds=5), attempts=3)
    discard_on(DeserializationError)
    discard_on(RecordNotFound)

    def perform(self, user_id: int, export_type: str) -> None:
        user = Table.find(User, user_id)
        BUFFER.add(self.generate_export(user, export_type))

    def generate_export(self, user: User, export_type: str) -> str:
        return f"{export_type} for {user.id}"


def test_job_with_options_runs_and_discards_a_missing_record(seed: SeedWorker) -> None:
    """Job with Options: ``class DataExportJob < ApplicationJob`` (queue, retry_on,
    discard_on).
    """
    user = Table.create(User)
    DataExportJob.perform_later(999, "csv")  # discard_on ActiveRecord::RecordNotFound
    DataExportJob.perform_later(user.id, "csv")
    assert seed.wait_for_values(1) == [f"csv for {user.id}"]
    assert DataExportJob(user.id, "csv").queue_name == "low_priority"


def test_job_with_options_retries_a_timeout_after_five_seconds(adapter: TestAdapter) -> None:
    """Job with Options: ``retry_on Timeout::Error, wait: 5.seconds, attempts: 3``."""

    def timing_out(self: Any, user: User, export_type: str) -> str:
        raise TimeoutError("export timed out")

    user = Table.create(User)
    started = datetime.now(timezone.utc)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DataExportJob, "generate_export", timing_out)
        DataExportJob.perform_now(user.id, "csv")
    retry = assert_enqueued_with(job=DataExportJob, args=[user.id, "csv"], queue="low_priority")
    assert timedelta(seconds=5) <= retry.scheduled_at - started < timedelta(seconds=7)


def test_exponentially_longer_waits_rails_numbers() -> None:
    """Job with Options / Retry Strategies: ``wait: :exponentially_longer`` is "3s, 18s, 83s,
    258s".
    """
    waits = [EXPONENTIALLY_LONGER.delay(n, None, 0.0) for n in range(1, 5)]
    assert waits == [3, 18, 83, 258]


# --- 3. Model Integration Pattern --------------------------------------------------------------


class EventRelayJob(ApplicationJob):  # Rails: Event::RelayJob
    queue_as("webhooks")

    def perform(self, event: Event) -> None:
        event.relay_now()


def test_model_integration_relay_later_and_relay_now(seed: SeedWorker) -> None:
    """Model Integration Pattern: ``def relay_later; Event::RelayJob.perform_later(self);
    end``.
    """
    event = Table.create(Event)
    job = event.relay_later()  # async
    assert job.queue_name == "webhooks"
    assert seed.wait_for_values(1) == [("relayed", event.id)]
    event.relay_now()  # sync
    assert BUFFER.values == [("relayed", event.id)] * 2


# --- 4. Callback Integration -------------------------------------------------------------------


class RelayingEvent(Event):
    """``module Event::Relaying``: ``after_create_commit :relay_later`` is the model's create
    hook.
    """

    model = "Event"

    @classmethod
    def create(cls) -> RelayingEvent:
        event: RelayingEvent = Table.create(cls)
        event.relay_later()  # after_create_commit :relay_later
        return event


def test_callback_integration_after_create_commit_relays(seed: SeedWorker) -> None:
    """Callback Integration: ``module Event::Relaying ... after_create_commit :relay_later``."""
    event = RelayingEvent.create()
    assert seed.wait_for_values(1) == [("relayed", event.id)]


# --- 5. Define Queues --------------------------------------------------------------------------


class UrgentJob(ApplicationJob):
    queue_as("urgent")

    def perform(self) -> None:
        BUFFER.add("urgent")


def test_define_queues_adapter_prefix_and_delimiter(adapter: TestAdapter) -> None:
    """Define Queues: ``config.active_job.queue_adapter = :solid_queue`` is ``init_app(app)``;
    prefix = Rails.env.
    """
    app = Celery("production_app", broker="memory://", set_as_current=False)
    app.conf.activejob_queue_name_prefix = "production"
    app.conf.activejob_queue_name_delimiter = "_"
    init_app(app)
    UrgentJob.perform_later()
    assert_enqueued_with(job=UrgentJob, queue="production_urgent")
    app.close()


# --- 6. Queue Organization ---------------------------------------------------------------------


class BaseJob(ApplicationJob, abstract=True):  # class ApplicationJob < ActiveJob::Base
    queue_as("default")


class LowPriorityJob(BaseJob):
    queue_as("low_priority")

    def perform(self) -> None:
        BUFFER.add("low")


class ReportJob(BaseJob):
    @queue_as
    def queue(self) -> str:
        user = self.arguments[0]
        return "premium" if user.attributes.get("premium") else "default"

    def perform(self, user: User) -> None:
        BUFFER.add((self.queue_name, user.id))


def test_queue_organization_static_and_dynamic_queues(seed: SeedWorker) -> None:
    """Queue Organization: ``queue_as :urgent``, ``:low_priority`` and ``queue_as do user.premium?
    ...``.
    """
    premium, plain = Table.create(User, attributes={"premium": True}), Table.create(User)
    assert (UrgentJob().queue_name, LowPriorityJob().queue_name) == ("urgent", "low_priority")
    UrgentJob.perform_later()
    LowPriorityJob.perform_later()
    ReportJob.perform_later(premium)
    ReportJob.perform_later(plain)
    assert sorted(map(str, seed.wait_for_values(4))) == sorted(
        map(str, ["urgent", "low", ("premium", premium.id), ("default", plain.id)])
    )


# --- 7. Retry Strategies -----------------------------------------------------------------------


class SomeTransientError(Exception): ...


class SomeError(Exception): ...


class ExternalApiJob(ApplicationJob):
    retry_on(HTTPServerError, wait=EXPONENTIALLY_LONGER, attempts=5)
    retry_on(TimeoutError, wait=POLYNOMIALLY_LONGER, attempts=4)
    retry_on(SomeTransientError, wait=timedelta(seconds=30), attempts=3)
    retry_on(DatabaseError, wait=lambda executions: executions * 10)

    @retry_on(SomeError, attempts=3)
    def should_retry(self, exception: BaseException) -> None:
        BUFFER.add(("gave up", str(exception)))

    def perform(self, error: str) -> None:
        raise {"timeout": TimeoutError, "transient": SomeTransientError, "db": DatabaseError,
               "some": SomeError}[error](error)  # fmt: skip


@pytest.mark.parametrize(
    ("error", "low", "high"),
    [("timeout", 3, 3.5), ("transient", 30, 34.5), ("db", 10, 11.5)],
)
def test_retry_strategies_schedule_each_wait(adapter: TestAdapter, error: str, low: float,
                                             high: float) -> None:  # fmt: skip
    """Retry Strategies: polynomially_longer (4s...), fixed 30.seconds, ``->(executions) {
    executions * 10 }``.
    """
    started = datetime.now(timezone.utc)
    ExternalApiJob.perform_now(error)
    retry = assert_enqueued_with(job=ExternalApiJob, args=[error])
    assert timedelta(seconds=low) <= retry.scheduled_at - started <= timedelta(seconds=high + 1)


def test_retry_strategies_conditional_block_runs_when_attempts_run_out(
    adapter: TestAdapter,
) -> None:
    """Retry Strategies: ``retry_on SomeError, attempts: 3 do |job, exception| ... end``."""
    perform_enqueued_jobs(block=lambda: ExternalApiJob.perform_later("some"))
    assert BUFFER.values == [("gave up", "some")]
    assert len(activejob_celery.testing.performed_jobs()) == 3


# --- 8. Discard (Don't Retry) ------------------------------------------------------------------


class ProcessUserJob(ApplicationJob):
    discard_on(RecordNotFound)
    discard_on(DeserializationError)

    @discard_on(CustomError)
    def conditional(self, exception: BaseException) -> None:
        BUFFER.add(("discarded", "permanent" in str(exception)))

    def perform(self, user_id: int) -> None:
        if user_id < 0:
            raise CustomError("permanent failure")
        user = Table.find(User, user_id)
        BUFFER.add(("processed", user.id))


def test_discard_on_missing_records_and_a_conditional_block(seed: SeedWorker) -> None:
    """Discard (Don't Retry): ``discard_on ActiveRecord::RecordNotFound`` and ``discard_on
    CustomError do ...``.
    """
    user = Table.create(User)
    ProcessUserJob.perform_later(999)
    ProcessUserJob.perform_later(-1)
    ProcessUserJob.perform_later(user.id)
    assert sorted(seed.wait_for_values(2)) == [("discarded", True), ("processed", user.id)]


# --- 9. Rescue From ----------------------------------------------------------------------------


class SMTPSyntaxError(smtplib.SMTPResponseException):
    """Net::SMTPSyntaxError."""


class SmtpMailJob(ApplicationJob):
    @rescue_from(SMTPSyntaxError)
    def invalid_email(self, exception: SMTPSyntaxError) -> None:
        if re.match(r"\A501 5\.1\.3", f"{exception.smtp_code} {exception.smtp_error.decode()}"):
            BUFFER.add(("ignored", exception.smtp_code))  # Rails.logger.info "Invalid email"
        else:
            raise exception

    def perform(self, email_data: dict[str, Any]) -> None:
        BUFFER.add(("sending", email_data["to"]))
        raise SMTPSyntaxError(email_data["code"], email_data["reply"].encode())


def test_rescue_from_ignores_some_and_raises_the_rest(seed: SeedWorker) -> None:
    """Rescue From: ``rescue_from Net::SMTPSyntaxError do |exception| case ... else raise``."""
    SmtpMailJob.perform_later({"to": "bad", "code": 501, "reply": "5.1.3 Bad recipient"})
    assert seed.wait_for_values(2) == [("sending", "bad"), ("ignored", 501)]
    with pytest.raises(SMTPSyntaxError):
        SmtpMailJob.perform_now({"to": "x", "code": 500, "reply": "5.5.2 Syntax error"})


# --- 10. Recurring Job Pattern -----------------------------------------------------------------


class CardAutoPostponeJob(ApplicationJob):  # Card::AutoPostponeJob
    job_name = "Card::AutoPostponeJob"
    queue_as("maintenance")

    def perform(self) -> None:
        for card in [r for r in list(Table.rows.values()) if isinstance(r, Card)]:
            if card.attributes.get("stale"):
                card.status = "postponed"
        BUFFER.add("postponed")


def test_recurring_job_pattern_runs_on_maintenance(seed: SeedWorker) -> None:
    """Recurring Job Pattern: ``class Card::AutoPostponeJob < ApplicationJob; queue_as
    :maintenance``.
    """
    stale, fresh = Table.create(Card, attributes={"stale": True}), Table.create(Card)
    CardAutoPostponeJob.perform_later()
    seed.wait_for_values(1)
    assert (stale.status, fresh.status) == ("postponed", "pending")


def test_recurring_yml_solid_queue_entries_load() -> None:
    """Configuration (Solid Queue) yaml: ``class: Notification::Bundle::DeliverJob`` and cron
    schedules.
    """
    from activejob_celery.recurring import load_recurring

    [job] = load_recurring(
        {"auto_postpone_cards": {"class": "Card::AutoPostponeJob", "schedule": "0 * * * *"}}
    )
    assert (job.job_class, job.schedule.cron) == (CardAutoPostponeJob, "0 * * * *")


class Notification:
    class Bundle:
        class DeliverJob(ApplicationJob):  # Notification::Bundle::DeliverJob, no job_name given
            def perform(self) -> None: ...


def test_recurring_yml_namespaced_class_as_written() -> None:
    """Configuration (Solid Queue) yaml: ``class: Notification::Bundle::DeliverJob`` as written."""
    from activejob_celery.recurring import load_recurring

    [job] = load_recurring(
        {
            "deliver_notifications": {
                "class": "Notification::Bundle::DeliverJob",
                "schedule": "*/30 * * * *",
            }
        }
    )
    assert job.job_class is Notification.Bundle.DeliverJob


# --- 11. Error Handling Concern ----------------------------------------------------------------


class WelcomeEmailJob(SmtpDeliveryErrorHandling, ApplicationJob):
    def perform(self, user: User) -> None:
        BUFFER.add(("welcome", user.id))
        if user.attributes.get("reply"):
            code, text = user.attributes["reply"]
            raise smtplib.SMTPRecipientsRefused({user.attributes["email"]: (code, text.encode())})


def test_error_handling_concern_included_in_a_job(seed: SeedWorker) -> None:
    """Error Handling Concern: ``module SmtpDeliveryErrorHandling`` included in
    ``WelcomeEmailJob``.
    """
    good = Table.create(User)
    invalid = Table.create(User, attributes={"email": "x@", "reply": (501, "5.1.3 Bad address")})
    WelcomeEmailJob.perform_later(invalid)  # ignored (reported at info), not retried
    WelcomeEmailJob.perform_later(good)
    assert sorted(seed.wait_for_values(2)) == [("welcome", good.id), ("welcome", invalid.id)]


def test_error_handling_concern_retries_network_errors(adapter: TestAdapter) -> None:
    """Error Handling Concern: ``retry_on Net::OpenTimeout, ... wait: :polynomially_longer``."""
    user = Table.create(User)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            WelcomeEmailJob, "perform", lambda self, user: (_ for _ in ()).throw(TimeoutError())
        )
        WelcomeEmailJob.perform_now(user)
    assert_enqueued_with(job=WelcomeEmailJob, args=[user])


# --- 12. Lifecycle Callbacks -------------------------------------------------------------------


class DataProcessingJob(ApplicationJob):
    before_perform("log_start")
    around_perform("measure_time")
    after_perform("log_completion")

    def perform(self, data: list[int]) -> None:
        BUFFER.add(("process", sum(data)))

    def log_start(self) -> None:
        BUFFER.add(("start", self.job_id))

    def measure_time(self) -> Iterator[None]:
        started = time.monotonic()
        yield
        BUFFER.add(("duration", time.monotonic() - started >= 0))

    def log_completion(self) -> None:
        BUFFER.add(("completed", self.job_id))


def test_lifecycle_callbacks_run_in_rails_order(seed: SeedWorker) -> None:
    """Lifecycle Callbacks: ``before_perform :log_start``, ``around_perform :measure_time``,
    ``after_perform``.
    """
    job = DataProcessingJob.perform_later([1, 2, 3])
    assert seed.wait_for_values(4) == [
        ("start", job.job_id),
        ("process", 6),
        ("completed", job.job_id),
        ("duration", True),
    ]  # fmt: skip  (as in Rails: an after_perform declared after an around runs inside it)


# --- 13. Error Callbacks -----------------------------------------------------------------------


class Report(Record):
    model = "Report"


class FailingReportJob(ApplicationJob):  # the seed's second ReportJob
    @rescue_from(Exception)
    def handle_error(self, exception: BaseException) -> None:
        BUFFER.add(("notified", type(exception).__name__))  # ErrorNotifier.notify
        Table.find(Report, self.arguments[0]).status = "failed"  # mark_as_failed!

    def perform(self, report_id: int) -> None:
        raise RuntimeError("report generation failed")


def test_error_callbacks_rescue_from_standard_error_marks_failed(seed: SeedWorker) -> None:
    """Error Callbacks: ``rescue_from StandardError do |exception| handle_error(exception)
    end``.
    """
    report = Table.create(Report)
    FailingReportJob.perform_later(report.id)
    assert seed.wait_for_values(1) == [("notified", "RuntimeError")]
    seed.wait_until(lambda: report.status == "failed")


# --- 14. Basic Job Test ------------------------------------------------------------------------


def test_basic_job_test_enqueues_performs_and_queue(adapter: TestAdapter) -> None:
    """Basic Job Test: ``class NotificationJobTest < ActiveJob::TestCase`` (three tests)."""
    david = Table.create(User)
    assert_enqueued_with(job=NotificationJob, args=[david, "test"],
                         block=lambda: NotificationJob.perform_later(david, "test"))  # fmt: skip
    before = len(david.log)
    NotificationJob.perform_now(david, "test message")
    assert len(david.log) == before + 1  # assert_difference +1
    assert_enqueued_with(job=NotificationJob, queue="default",
                         block=lambda: NotificationJob.perform_later(david, "test"))  # fmt: skip


# --- 15. Testing Retry Logic -------------------------------------------------------------------


def test_testing_retry_logic_retries_and_discards(adapter: TestAdapter) -> None:
    """Testing Retry Logic: ``test "retries on transient error"`` and ``test "discards on permanent
    error"``.
    """
    david = Table.create(User)
    with pytest.MonkeyPatch.context() as patch:  # UserMailer.stub(:welcome, -> { raise ... })
        patch.setattr(WelcomeEmailJob, "perform", lambda self, user: (_ for _ in ()).throw(
            smtplib.SMTPServerDisconnected("gone")))  # fmt: skip
        WelcomeEmailJob.perform_later(david)
        perform_enqueued_jobs()  # the original runs and schedules one retry
    assert_enqueued_jobs(1, only=WelcomeEmailJob)  # + 1 retry
    activejob_celery.testing.clear_enqueued_jobs()
    assert_no_enqueued_jobs(
        block=lambda: perform_enqueued_jobs(block=lambda: ProcessUserJob.perform_later(999999))
    )


# --- 16. Testing Recurring Jobs ----------------------------------------------------------------


def test_testing_recurring_jobs_postpones_stale_cards() -> None:
    """Testing Recurring Jobs: ``test "auto postpone job postpones stale cards"`` with
    perform_now.
    """
    stale = Table.create(Card, attributes={"stale": True})  # last_active_at: 2.months.ago
    recent = Table.create(Card)  # last_active_at: 1.day.ago
    CardAutoPostponeJob.perform_now()
    assert stale.status == "postponed"
    assert recent.status != "postponed"


# --- 17. Batch Processing ----------------------------------------------------------------------


class ImportRowJob(ApplicationJob):
    def perform(self, row: dict[str, str]) -> None:
        BUFFER.add(row["name"])


class BatchImportJob(ApplicationJob):
    def perform(self, file_path: str) -> None:
        import csv  # the seed's CSV.foreach; only this job reads CSV

        with open(file_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        for start in range(0, len(rows), 100):  # each_slice(100)
            for row in rows[start : start + 100]:
                ImportRowJob.perform_later(dict(row))


def test_batch_processing_enqueues_a_job_per_csv_row(seed: SeedWorker, tmp_path: Any) -> None:
    """Batch Processing: ``CSV.foreach(file_path, headers: true).each_slice(100)`` →
    ``ImportRowJob``.
    """
    path = tmp_path / "import.csv"
    path.write_text("name\n" + "\n".join(f"row{n}" for n in range(150)) + "\n")
    BatchImportJob.perform_later(str(path))
    assert sorted(seed.wait_for_values(150)) == sorted(f"row{n}" for n in range(150))


# --- 18. Progress Tracking ---------------------------------------------------------------------

CACHE: dict[str, Any] = {}  # Rails.cache


class LongRunningJob(ApplicationJob):
    def perform(self, total_items: int) -> None:
        for i in range(total_items):
            self.update_progress(i + 1, total_items)
        BUFFER.add("done")

    def update_progress(self, current: int, total: int) -> None:
        CACHE[f"job:{self.job_id}:progress"] = round(current / total * 100)


def test_progress_tracking_in_a_cache(seed: SeedWorker) -> None:
    """Progress Tracking: ``Rails.cache.write("job:#{job_id}:progress", percentage)``."""
    job = LongRunningJob.perform_later(8)
    seed.wait_for_values(1)
    assert CACHE[f"job:{job.job_id}:progress"] == 100


class ProgressJob(ApplicationJob):
    def perform(self, total: int) -> None:
        for i in range(total):
            self.progress(i + 1, total)
        BUFFER.add("done")


def test_progress_tracking_with_the_library_progress(seed: SeedWorker) -> None:
    """Progress Tracking, the library way: ``self.progress(done, total)`` read with
    ``job_status``.
    """

    job = ProgressJob.perform_later(4)
    seed.wait_for_values(1)
    # The last progress lands with the outcome (progress is written at most once a second).
    status = wait_for(
        lambda: (
            (found := activejob_celery.job_status(job.job_id))
            and found["status"] == "succeeded"
            and found
        )
    )
    assert (status["done"], status["total"]) == (4, 4)


# --- 19. Job Chaining --------------------------------------------------------------------------


class GenerateReportJob(ApplicationJob):
    def perform(self, data_id: int) -> None:
        BUFFER.add(("report", data_id))


class ProcessDataJob(ApplicationJob):
    def perform(self, data_id: int) -> None:
        BUFFER.add(("processed", data_id))  # data.process!
        GenerateReportJob.set(wait=timedelta(minutes=5)).perform_later(data_id)


def test_job_chaining_enqueues_the_next_job_in_five_minutes(adapter: TestAdapter) -> None:
    """Job Chaining: ``GenerateReportJob.set(wait: 5.minutes).perform_later(data_id)``."""
    started = datetime.now(timezone.utc)
    ProcessDataJob.perform_now(7)
    follow = assert_enqueued_with(job=GenerateReportJob, args=[7])
    assert timedelta(minutes=5) <= follow.scheduled_at - started < timedelta(minutes=5, seconds=5)


# --- 20. Unique Jobs ---------------------------------------------------------------------------


class UniqueProcessJob(ApplicationJob):
    def perform(self, user_id: int) -> None:
        lock_key = f"unique_job:{user_id}"
        if CACHE.setdefault(lock_key, self.job_id) == self.job_id:  # Rails.cache.fetch(lock_key)
            BUFFER.add(("processed", user_id))


def test_unique_jobs_with_a_cache_lock(seed: SeedWorker) -> None:
    """Unique Jobs: ``Rails.cache.fetch(lock_key, expires_in: 1.hour, race_condition_ttl:
    10.seconds)``.
    """
    CACHE.pop("unique_job:5", None)
    UniqueProcessJob.perform_later(5)
    UniqueProcessJob.perform_later(5)
    LongRunningJob.perform_later(1)  # a marker that both ran (one solo worker, in order)
    seed.wait_until(lambda: "done" in BUFFER.values)
    assert BUFFER.values.count(("processed", 5)) == 1


# --- 21. Job Callbacks for Monitoring ----------------------------------------------------------

METRICS: list[tuple[str, str]] = []


class MonitoredBaseJob(ApplicationJob, abstract=True):  # class ApplicationJob < ActiveJob::Base
    @around_perform
    def record_duration(self) -> Iterator[None]:
        started = time.monotonic()
        yield
        METRICS.append(("job.duration", type(self).__name__))
        assert time.monotonic() >= started

    @rescue_from(Exception)
    def count_error(self, exception: Exception) -> None:
        METRICS.append(("job.error", type(self).__name__))
        BUFFER.add(("notified", self.job_id, self.arguments))  # ErrorTracker.notify
        raise exception


class MeteredJob(MonitoredBaseJob):
    def perform(self, fail: bool) -> None:
        if fail:
            raise RuntimeError("boom")
        BUFFER.add("ok")


def test_job_callbacks_for_monitoring_time_and_count_errors(seed: SeedWorker) -> None:
    """Job Callbacks for Monitoring: ``around_perform do |job, block|`` and ``rescue_from
    StandardError ... raise``.
    """
    METRICS.clear()
    failing = MeteredJob.perform_later(True)
    MeteredJob.perform_later(False)
    assert seed.wait_for_values(2) == [("notified", failing.job_id, [True]), "ok"]
    assert METRICS == [("job.error", "MeteredJob"), ("job.duration", "MeteredJob")]


# --- 22. Job Inspection ------------------------------------------------------------------------


def test_job_inspection_in_the_console() -> None:
    """Job Inspection: ``job = NotificationJob.new(user, "test"); job.serialize; job.queue_name
    ...``.
    """
    user = Table.create(User)
    job = NotificationJob(user, "test")
    payload = job.serialize()
    assert payload["arguments"][0] == {"_aj_globalid": f"gid://seeds/User/{user.id}"}
    assert (job.queue_name, job.priority, job.scheduled_at) == ("default", None, None)


# --- 23-30. Best Practices ---------------------------------------------------------------------


class ProcessCardJob(ApplicationJob):
    def perform(self, card: Card) -> None:
        card.status = "processed"  # card.process
        BUFFER.add(card.id)


def test_do_keep_jobs_simple_delegating_to_the_model(seed: SeedWorker) -> None:
    """✅ DO 1: ``class ProcessCardJob ... def perform(card) card.process end``."""
    card = Table.create(Card)
    ProcessCardJob.perform_later(card)
    seed.wait_for_values(1)
    assert card.status == "processed"


class Account(Record):
    model = "Account"

    def send_notifications_later(self) -> Any:
        return NotificationJob.perform_later(self, "notifications")

    def send_notifications_now(self) -> None:
        self.log.append("notifications")


def test_do_use_the_later_suffix(seed: SeedWorker) -> None:
    """✅ DO 2: ``def send_notifications_later; NotificationJob.perform_later(self); end``."""
    account = Table.create(Account)
    account.send_notifications_later()
    seed.wait_for_values(1)
    account.send_notifications_now()
    assert account.log == ["notifications", "notifications"]


class IdempotentUserJob(ApplicationJob):
    def perform(self, user_id: int) -> None:
        user = Table.find(User, user_id)
        if user.status != "processed":  # unless user.processed?
            user.status = "processed"
            BUFFER.add(("updated", user_id))
        BUFFER.add(("ran", user_id))


def test_do_make_jobs_idempotent(seed: SeedWorker) -> None:
    """✅ DO 3: ``user.update(processed: true) unless user.processed?``."""
    user = Table.create(User)
    IdempotentUserJob.perform_later(user.id)
    IdempotentUserJob.perform_later(user.id)
    assert seed.wait_for_values(3).count(("updated", user.id)) == 1
    seed.wait_until(lambda: BUFFER.values.count(("ran", user.id)) == 2)


class ReportQueueJob(ApplicationJob):  # the seed's ``class ReportJob; queue_as :low_priority``
    queue_as("low_priority")

    def perform(self) -> None:
        BUFFER.add("report")


def test_do_use_appropriate_queues(seed: SeedWorker) -> None:
    """✅ DO 4: ``UrgentJob queue_as :urgent``, ``ReportJob queue_as :low_priority``."""
    UrgentJob.perform_later()
    ReportQueueJob.perform_later()
    assert sorted(seed.wait_for_values(2)) == ["report", "urgent"]


class HandledJob(ApplicationJob):
    retry_on(TransientError, wait=EXPONENTIALLY_LONGER)
    discard_on(PermanentError)

    def perform(self, kind: str) -> None:
        BUFFER.add(kind)
        raise TransientError() if kind == "transient" else PermanentError()


def test_do_handle_errors_appropriately(adapter: TestAdapter) -> None:
    """✅ DO 5: ``retry_on TransientError, wait: :exponentially_longer; discard_on
    PermanentError``.
    """
    HandledJob.perform_now("permanent")
    assert enqueued_jobs() == []
    started = datetime.now(timezone.utc)
    HandledJob.perform_now("transient")
    retry = assert_enqueued_with(job=HandledJob, args=["transient"])
    assert timedelta(seconds=3) <= retry.scheduled_at - started < timedelta(seconds=5)


class Model(Record):
    model = "Model"

    def process(self) -> None:
        self.status = "processed"
        BUFFER.add(self.id)


class ProcessJob(ApplicationJob):
    def perform(self, model: Model) -> None:
        model.process()  # Good - delegate to model


def test_dont_put_business_logic_in_jobs(seed: SeedWorker) -> None:
    """❌ DON'T 1: ``# Bad - too much logic`` / ``# Good - delegate to model`` (ProcessJob)."""
    model = Table.create(Model)
    ProcessJob.perform_later(model)
    seed.wait_for_values(1)
    assert model.status == "processed"


class UserBatchJob(ApplicationJob):
    def perform(self) -> None:
        users = sorted(
            (r for r in list(Table.rows.values()) if isinstance(r, User)), key=lambda u: u.id
        )
        for start in range(0, len(users), 100):  # find_in_batches(batch_size: 100)
            activejob_celery.perform_all_later(
                [ProcessCardJob(user) for user in users[start : start + 100]]
            )


def test_dont_run_long_jobs_without_batching(seed: SeedWorker) -> None:
    """❌ DON'T 2: ``User.find_in_batches(batch_size: 100) { |batch| ...
    ProcessUserJob.perform_later(user) }``.
    """
    users = [Table.create(User) for _ in range(120)]
    UserBatchJob.perform_later()
    assert sorted(seed.wait_for_values(120)) == [user.id for user in users]


class SwallowingJob(ApplicationJob):
    retry_on(TransientError, wait=timedelta(minutes=1))

    def perform(self, data: str) -> None:
        raise TransientError(data)  # Good - let errors bubble up for retry logic


def test_dont_ignore_job_failures(adapter: TestAdapter) -> None:
    """❌ DON'T 3: ``rescue => e # Silent failure`` is bad; let errors bubble up for retry
    logic.
    """
    SwallowingJob.perform_now("data")
    assert_enqueued_with(job=SwallowingJob, args=["data"])
