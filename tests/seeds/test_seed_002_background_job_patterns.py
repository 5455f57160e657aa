"""Seed 002, "Background Job Patterns" (ActiveJob and Sidekiq in Rails applications).

One test per ```ruby block of ../shared/seeds/002_b9acd58728e77ad3.txt, in order, plus the
guide's sidekiq yaml blocks; see README.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
from celery import Celery

import activejob_celery
from activejob_celery import (
    EXPONENTIALLY_LONGER,
    ApplicationJob,
    DeserializationError,
    after_discard,
    around_perform,
    current_settings,
    discard_on,
    init_app,
    queue_as,
    retry_on,
    unique,
)
from activejob_celery.recurring import load_recurring
from activejob_celery.testing import (
    TestAdapter,
    assert_enqueued_with,
    assert_no_performed_jobs,
    assert_performed_jobs,
    perform_enqueued_jobs,
)
from tests.seeds.records import Mail, Record, RecordNotFound, Table, deliveries
from tests.support.broker_lists import queue_length
from tests.support.seeds import BUFFER, SeedWorker

QUEUES = ["default", "high_priority", "critical", "low", "mailers"]

log = logging.getLogger("seeds.002")


class Order(Record):
    model = "Order"


class User(Record):
    model = "User"


class Payment(Record):
    model = "Payment"


class Import(Record):
    model = "Import"


class Campaign(Record):
    model = "Campaign"


class Report(Record):
    model = "Report"


class OpenTimeout(TimeoutError):
    """Net::OpenTimeout."""


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    Table.rows.clear()
    deliveries.clear()
    yield
    Table.rows.clear()


class MailDeliveryJob(ApplicationJob):
    """``ActionMailer::MailDeliveryJob``: what ``deliver_later`` enqueues."""

    queue_as("mailers")

    def perform(self, to: str, subject: str) -> None:
        Mail(to=[to], subject=subject).deliver_now()
        BUFFER.add(("mail", subject))


def deliver_later(to: str, subject: str) -> Any:
    """``SomeMailer.some_mail(...).deliver_later``."""
    return MailDeliveryJob.perform_later(to, subject)


# --- 1. Basic Job with Error Handling ----------------------------------------------------------


class OrderProcessor:
    def __init__(self, order: Order) -> None:
        self.order = order

    def process(self) -> None:  # process!
        if self.order.attributes.get("error"):
            raise self.order.attributes["error"]("processing failed")
        self.order.status = "processed"


class ProcessOrderJob(ApplicationJob):
    queue_as("default")
    retry_on(RecordNotFound, wait=timedelta(seconds=5), attempts=3)
    retry_on(OpenTimeout, wait=EXPONENTIALLY_LONGER, attempts=5)
    retry_on(TimeoutError, wait=timedelta(minutes=1), attempts=3)

    @discard_on(DeserializationError)
    def log_discard(self, error: DeserializationError) -> None:
        BUFFER.add(("deserialize failed", self.job_id))

    def perform(self, order_id: int) -> None:
        try:
            order = Table.find(Order, order_id)
            OrderProcessor(order).process()
            deliver_later(f"order{order.id}@example.com", f"Order {order.id} confirmed")
        except Exception as error:
            log.error("Failed to process order %s: %s", order_id, error)
            raise


class GoneOrderJob(ProcessOrderJob):
    def perform(self, order: Any) -> None:  # type: ignore[override]
        BUFFER.add("never")


def test_basic_job_with_error_handling_processes_and_mails(seed: SeedWorker) -> None:
    """Basic Job with Error Handling: ``class ProcessOrderJob`` ... ``OrderMailer ...
    deliver_later``.
    """
    order = Table.create(Order)
    ProcessOrderJob.perform_later(order.id)
    assert seed.wait_for_values(1) == [("mail", f"Order {order.id} confirmed")]
    assert order.status == "processed"


def test_basic_job_with_error_handling_discards_undecodable_jobs(seed: SeedWorker) -> None:
    """Basic Job with Error Handling: ``discard_on ActiveJob::DeserializationError do |job,
    error|``.
    """
    gone = Table.create(Order)
    del Table.rows[("Order", gone.id)]  # deleted before the job runs: its GlobalID finds nothing
    job = GoneOrderJob.perform_later(gone)
    assert seed.wait_for_values(1) == [("deserialize failed", job.job_id)]


@pytest.mark.parametrize(
    ("error", "wait"), [(RecordNotFound, 5), (OpenTimeout, 60), (TimeoutError, 60)]
)
def test_basic_job_with_error_handling_retries(
    adapter: TestAdapter, error: type, wait: int
) -> None:
    """Basic Job with Error Handling: ``retry_on ... wait: 5.seconds`` / ``1.minute``.

    Net::OpenTimeout is a Timeout::Error, and the later ``retry_on Timeout::Error, wait: 1.minute``
    wins in Rails; so here too: OpenTimeout waits 60 s, not the exponential's 3 s.
    """
    order = Table.create(Order, attributes={"error": error})
    order_id = order.id if error is not RecordNotFound else 999
    started = datetime.now(timezone.utc)
    ProcessOrderJob.perform_now(order_id)
    retry = assert_enqueued_with(job=ProcessOrderJob, args=[order_id])
    assert (
        timedelta(seconds=wait) <= retry.scheduled_at - started < timedelta(seconds=wait * 1.2 + 1)
    )


# --- 2. Dynamic Queue Selection ----------------------------------------------------------------


class NotificationJob(ApplicationJob):
    @queue_as
    def queue(self) -> str:
        user = self.arguments[0]
        return "high_priority" if user.attributes.get("premium") else "default"

    def perform(self, user: User, message: str) -> None:
        BUFFER.add((self.queue_name, message))  # NotificationService.new(user).send(message)


def test_dynamic_queue_selection(seed: SeedWorker) -> None:
    """Dynamic Queue Selection: ``queue_as do user = arguments.first; user.premium? ? ...
    end``.
    """
    NotificationJob.perform_later(Table.create(User, attributes={"premium": True}), "vip")
    NotificationJob.perform_later(Table.create(User), "plain")
    assert sorted(seed.wait_for_values(2)) == [("default", "plain"), ("high_priority", "vip")]


# --- 3. Status Check Guard ---------------------------------------------------------------------


class GuardedPaymentJob(ApplicationJob):  # the seed's ProcessPaymentJob
    def perform(self, payment_id: int) -> None:
        payment = Table.find(Payment, payment_id)
        if payment.status == "completed":  # Guard: already processed
            BUFFER.add("skipped")
            return
        payment.status = "completed"  # process_payment(payment)
        BUFFER.add("processed")


def test_status_check_guard(seed: SeedWorker) -> None:
    """Status Check Guard: ``return if payment.completed?``."""
    payment = Table.create(Payment)
    GuardedPaymentJob.perform_later(payment.id)
    GuardedPaymentJob.perform_later(payment.id)
    assert seed.wait_for_values(2) == ["processed", "skipped"]


# --- 4. Lock-Based Idempotency -----------------------------------------------------------------


class ImportDataJob(ApplicationJob):
    def perform(self, import_id: int) -> None:
        record = Table.find(Import, import_id)
        with record.lock:  # import.with_lock do
            if record.status == "completed":
                BUFFER.add("already")
                return
            record.status = "completed"  # process_import; update!(status: 'completed')
            record.attributes["completed_at"] = datetime.now(timezone.utc)
            BUFFER.add("imported")


def test_lock_based_idempotency(seed: SeedWorker) -> None:
    """Lock-Based Idempotency: ``import.with_lock do return if import.completed? ...``."""
    record = Table.create(Import)
    ImportDataJob.perform_later(record.id)
    ImportDataJob.perform_later(record.id)
    assert seed.wait_for_values(2) == ["imported", "already"]


# --- 5. Unique Job Keys ------------------------------------------------------------------------


class SyncUserJob(ApplicationJob):
    queue_as("sync_users")  # no worker consumes it here: the locks stay held while we look
    unique(until="executed", key=lambda user_id, reason: user_id)

    def perform(self, user_id: int, reason: str) -> None: ...


def test_unique_job_keys_until_executed(seed: SeedWorker) -> None:
    """Unique Job Keys: ``sidekiq_options lock: :until_executed, lock_args_method: ->(args) {
    [args.first] }``: a duplicate (same first argument) is not enqueued while one waits.
    """
    first = SyncUserJob.perform_later(1, "signup")
    duplicate = SyncUserJob.perform_later(1, "login")  # same first argument: discarded
    other = SyncUserJob.perform_later(2, "signup")
    assert first and first.successfully_enqueued and other and other.successfully_enqueued
    assert duplicate is False  # Rails: perform_later returns false when the job was not enqueued
    assert queue_length(seed.server.client(1), "sync_users") == 2


# --- 6. Find in Batches ------------------------------------------------------------------------


class SendCampaignEmailJob(ApplicationJob):
    def perform(self, campaign_id: int, subscriber_id: int) -> None:
        BUFFER.add(subscriber_id)


class BulkEmailJob(ApplicationJob):
    BATCH_SIZE = 100

    def perform(self, campaign_id: int) -> None:
        campaign = Table.find(Campaign, campaign_id)
        subscribers = campaign.attributes["subscribers"]
        for start in range(0, len(subscribers), self.BATCH_SIZE):  # find_in_batches
            batch = subscribers[start : start + self.BATCH_SIZE]
            for subscriber_id in batch:
                SendCampaignEmailJob.perform_later(campaign_id, subscriber_id)
            campaign.attributes["processed_count"] += len(batch)  # increment!


def test_find_in_batches(seed: SeedWorker) -> None:
    """Find in Batches: ``campaign.subscribers.find_in_batches(batch_size: BATCH_SIZE)``."""
    campaign = Table.create(
        Campaign, attributes={"subscribers": list(range(150)), "processed_count": 0}
    )
    BulkEmailJob.perform_later(campaign.id)
    assert sorted(seed.wait_for_values(150)) == list(range(150))
    assert campaign.attributes["processed_count"] == 150


# --- 7. Self-Chaining Batch Job ----------------------------------------------------------------


class LargeDataProcessJob(ApplicationJob):
    BATCH_SIZE = 10
    DATASETS: ClassVar[dict[int, list[int]]] = {1: list(range(25))}

    def perform(self, dataset_id: int, offset: int = 0) -> None:
        batch = self.DATASETS[dataset_id][offset : offset + self.BATCH_SIZE]
        if not batch:
            BUFFER.add(("end", offset))
            return
        self.process_batch(batch)
        type(self).perform_later(dataset_id, offset + self.BATCH_SIZE)  # Queue next batch

    def process_batch(self, records: list[int]) -> None:
        BUFFER.add(("batch", records[0], len(records)))


def test_self_chaining_batch_job(seed: SeedWorker) -> None:
    """Self-Chaining Batch Job: ``self.class.perform_later(dataset_id, offset + BATCH_SIZE)``."""
    LargeDataProcessJob.perform_later(1)
    assert seed.wait_for_values(4) == [
        ("batch", 0, 10),
        ("batch", 10, 10),
        ("batch", 20, 5),
        ("end", 30),
    ]


# --- 8. Parallel Batch Processing --------------------------------------------------------------


class ProcessBatchJob(ApplicationJob):
    def perform(self, batch_ids: list[int]) -> None:
        BUFFER.add(len(batch_ids))


class ParallelProcessJob(ApplicationJob):
    def perform(self, ids: list[int]) -> None:
        for start in range(0, len(ids), 100):  # ids.each_slice(100)
            ProcessBatchJob.perform_later(ids[start : start + 100])


def test_parallel_batch_processing(seed: SeedWorker) -> None:
    """Parallel Batch Processing: ``ids.each_slice(100) { |batch_ids|
    ProcessBatchJob.perform_later }``.
    """
    ParallelProcessJob.perform_later(list(range(250)))
    assert sorted(seed.wait_for_values(3)) == [50, 100, 100]


# --- 9. Recurring Job Pattern ------------------------------------------------------------------


class DailyReportJob(ApplicationJob):
    def perform(self, day: date | None = None) -> None:
        day = day or date.today()  # date = Date.current
        if any(
            isinstance(r, Report) and r.attributes["date"] == day for r in list(Table.rows.values())
        ):
            BUFFER.add(("exists", day))
            return
        report = Table.create(
            Report, attributes={"date": day, "type": "daily", "data": {"orders": 0}}
        )
        deliver_later("ops@example.com", f"Daily report {report.attributes['date']}")


def test_recurring_job_pattern_runs_once_per_day(seed: SeedWorker) -> None:
    """Recurring Job Pattern: ``class DailyReportJob ... return if Report.exists?(date: date,
    type:)``.
    """
    DailyReportJob.perform_later(date(2030, 1, 2))
    DailyReportJob.perform_later(date(2030, 1, 2))
    values = seed.wait_for_values(2)
    assert sorted(map(str, values)) == sorted(
        map(str, [("exists", date(2030, 1, 2)), ("mail", "Daily report 2030-01-02")])
    )


def test_sidekiq_schedule_yml() -> None:
    """With sidekiq-cron or sidekiq-scheduler (yaml): ``cron: "0 2 * * *"`` and ``every:
    "1h"``.
    """
    jobs = load_recurring(
        {
            "daily_report": {"cron": "0 2 * * *", "class": DailyReportJob.job_name, "queue": "low"},
            "hourly_sync": {"every": "1h", "class": DailyReportJob.job_name, "queue": "default"},
        }
    )
    by_key = {job.key: job for job in jobs}
    assert by_key["daily_report"].schedule.cron == "0 2 * * *"
    assert by_key["daily_report"].queue == "low"
    assert by_key["hourly_sync"].schedule.every == 3600


# --- 10. Custom Error Types --------------------------------------------------------------------


class PaymentError(Exception): ...


class InsufficientFundsError(PaymentError): ...


class CardExpiredError(PaymentError): ...


class ChargingPaymentJob(ApplicationJob):  # the seed's second ProcessPaymentJob
    retry_on(PaymentError, wait=EXPONENTIALLY_LONGER, attempts=5)

    @discard_on(CardExpiredError)
    def card_expired(self, error: CardExpiredError) -> None:
        payment = Table.find(Payment, self.arguments[0])
        payment.status = "card_expired"
        deliver_later("payer@example.com", "Card expired")

    def perform(self, payment_id: int) -> None:
        payment = Table.find(Payment, payment_id)
        raise payment.attributes["error"]()  # PaymentProcessor.charge!(payment)


def test_custom_error_types_discard_the_subclass(seed: SeedWorker) -> None:
    """Custom Error Types: ``retry_on PaymentError`` but ``discard_on CardExpiredError do ...
    end``.
    """
    payment = Table.create(Payment, attributes={"error": CardExpiredError})
    ChargingPaymentJob.perform_later(payment.id)
    assert seed.wait_for_values(1) == [("mail", "Card expired")]
    assert payment.status == "card_expired"


def test_custom_error_types_retry_the_base_class(adapter: TestAdapter) -> None:
    """Custom Error Types: ``InsufficientFundsError < PaymentError`` is retried."""
    payment = Table.create(Payment, attributes={"error": InsufficientFundsError})
    ChargingPaymentJob.perform_now(payment.id)
    assert_enqueued_with(job=ChargingPaymentJob, args=[payment.id])


# --- 11. Dead Letter Queue Pattern -------------------------------------------------------------

FAILED_JOBS: list[dict[str, Any]] = []


class ReliableJob(ApplicationJob):
    retry_on(Exception, attempts=5)

    @after_discard
    def record_failure(self, error: BaseException) -> None:
        FAILED_JOBS.append(
            {
                "job_class": type(self).__name__,
                "arguments": self.arguments,
                "error_class": type(error).__name__,
                "error_message": str(error),
                "failed_at": datetime.now(timezone.utc),
            }
        )  # FailedJob.create!; SlackNotifier.notify

    def perform(self, n: int) -> None:
        raise RuntimeError(f"failed {n}")


def test_dead_letter_queue_pattern_after_discard(adapter: TestAdapter) -> None:
    """Dead Letter Queue Pattern: ``retry_on StandardError, attempts: 5; after_discard do
    ...``.
    """
    FAILED_JOBS.clear()
    with pytest.raises(RuntimeError, match="failed 1"):
        perform_enqueued_jobs(block=lambda: ReliableJob.perform_later(1))
    assert_performed_jobs(5)
    [failed] = FAILED_JOBS
    assert failed["arguments"] == [1] and failed["error_class"] == "RuntimeError"


# --- 12. Instrumented Job ----------------------------------------------------------------------

STATSD: list[tuple[str, str]] = []


class InstrumentedJob(ApplicationJob):
    @around_perform
    def instrument(self) -> Iterator[None]:
        name = "instrumented_job"  # job.class.name.underscore
        started = time.monotonic()
        log.info(json.dumps({"event": "job_started", "job_class": type(self).__name__,
                             "job_id": self.job_id, "arguments": self.arguments}))  # fmt: skip
        try:
            yield
        except Exception:
            STATSD.append(("increment", f"jobs.{name}.failure"))
            raise
        duration_ms = round((time.monotonic() - started) * 1000)
        log.info(
            json.dumps(
                {"event": "job_completed", "job_id": self.job_id, "duration_ms": duration_ms}
            )
        )
        STATSD.append(("timing", f"jobs.{name}.duration"))
        STATSD.append(("increment", f"jobs.{name}.success"))

    def perform(self, fail: bool) -> None:
        BUFFER.add(fail)
        if fail:
            raise ValueError("instrumented failure")


def test_instrumented_job(seed: SeedWorker, caplog: pytest.LogCaptureFixture) -> None:
    """Instrumented Job: ``around_perform do |job, block| ... StatsD.timing ... rescue
    StandardError``.
    """
    STATSD.clear()
    with caplog.at_level(logging.INFO, logger="seeds.002"):
        job = InstrumentedJob.perform_later(False)
        InstrumentedJob.perform_later(True)
        seed.wait_for_values(2)
        seed.wait_until(lambda: len(STATSD) == 3)
    assert STATSD == [
        ("timing", "jobs.instrumented_job.duration"),
        ("increment", "jobs.instrumented_job.success"),
        ("increment", "jobs.instrumented_job.failure"),
    ]
    started = [
        json.loads(r.getMessage()) for r in caplog.records if "job_started" in r.getMessage()
    ]
    assert started[0]["job_id"] == job.job_id and started[0]["arguments"] == [False]


# --- Queue Configuration: config/sidekiq.yml (yaml) -------------------------------------------


def test_sidekiq_yml_weighted_queues() -> None:
    """Sidekiq Configuration (yaml): ``:queues: - [critical, 6] - [default, 3] - [low, 1]
    ...``.
    """
    app = Celery("weights", broker="memory://", set_as_current=False)
    app.conf.worker_concurrency = 10  # :concurrency: 10
    app.conf.activejob_queue_weights = {"critical": 6, "default": 3, "low": 1, "mailers": 2}
    init_app(app)
    assert current_settings().queue_weights == {
        "critical": 6,
        "default": 3,
        "low": 1,
        "mailers": 2,
    }
    app.close()


# --- 13. Queue-Specific Workers ----------------------------------------------------------------


class ChargePaymentJob(ApplicationJob):
    queue_as("critical")

    def perform(self) -> None:
        BUFFER.add(self.queue_name)


class SendNotificationJob(ApplicationJob):
    queue_as("default")

    def perform(self) -> None:
        BUFFER.add(self.queue_name)


class CleanupJob(ApplicationJob):
    queue_as("low")

    def perform(self) -> None:
        BUFFER.add(self.queue_name)


def test_queue_specific_workers(seed: SeedWorker) -> None:
    """Queue-Specific Workers: ``ChargePaymentJob queue_as :critical`` / ``:default`` /
    ``:low``.
    """
    for job_class in (ChargePaymentJob, SendNotificationJob, CleanupJob):
        job_class.perform_later()
    assert sorted(seed.wait_for_values(3)) == ["critical", "default", "low"]


# --- 14. Test Job Execution --------------------------------------------------------------------


def test_test_job_execution_rspec(adapter: TestAdapter) -> None:
    """Test Job Execution: ``RSpec.describe ProcessOrderJob, type: :job`` (three examples).

    The seed's ``assert_performed_jobs 0 do perform_later ... end`` cannot pass in Rails (the block
    form performs the job); what it means is that the error schedules a retry.
    """
    order = Table.create(Order, attributes={"status": "pending"})
    ProcessOrderJob.perform_now(order.id)
    assert order.status == "processed"  # change { order.reload.status }.to('processed')
    assert_enqueued_with(job=MailDeliveryJob)  # have_enqueued_job(ActionMailer::MailDeliveryJob)
    activejob_celery.testing.clear_enqueued_jobs()
    failing = Table.create(Order, attributes={"error": OpenTimeout})
    ProcessOrderJob.perform_now(failing.id)  # 'retries on network errors'
    assert_enqueued_with(job=ProcessOrderJob, args=[failing.id])
    assert_no_performed_jobs()


# --- 15. Test Enqueuing ------------------------------------------------------------------------


def test_test_enqueuing_with_arguments_and_queue(adapter: TestAdapter) -> None:
    """Test Enqueuing:
    ``have_enqueued_job(ProcessOrderJob).with(order.id).on_queue('default')``.
    """
    order = Table.create(Order)
    assert_enqueued_with(
        job=ProcessOrderJob,
        args=[order.id],
        queue="default",
        block=lambda: ProcessOrderJob.perform_later(order.id),
    )
