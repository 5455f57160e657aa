"""Seed 004, "Rails Background Jobs Specialist" (app/jobs: design, queues, errors, batches).

One test per ```ruby block of ../shared/seeds/004_1ad557003beef194.txt, in order; see README.md.
"""

from __future__ import annotations

import logging
import smtplib
import threading
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
    around_perform,
    discard_on,
    init_app,
    queue_as,
    retry_on,
)
from activejob_celery.testing import TestAdapter, assert_enqueued_with
from tests.seeds.records import Mail, Record, RecordNotFound, Table, deliveries
from tests.support.seeds import BUFFER, SeedWorker

QUEUES = ["default", "urgent", "mailers"]

log = logging.getLogger("seeds.004")


class Order(Record):
    model = "Order"


class Import(Record):
    model = "Import"


class Product(Record):
    model = "Product"


class Payment(Record):
    model = "Payment"


class Batch(Record):
    model = "Batch"


class Report(Record):
    model = "Report"


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


# --- 1. Basic Job Structure --------------------------------------------------------------------


class ProcessOrderJob(ApplicationJob):
    queue_as("default")
    retry_on(RecordNotFound, wait=timedelta(seconds=5), attempts=3)
    discard_on(DeserializationError)

    def perform(self, order_id: int) -> None:
        try:
            order = Table.find(Order, order_id)
            order.status = "processed"  # OrderProcessor.new(order).process!
            MailDeliveryJob.perform_later("buyer@example.com", f"Order {order.id}")  # deliver_later
        except Exception as error:
            log.error("Failed to process order %s: %s", order_id, error)
            raise  # Re-raise to trigger retry


def test_basic_job_structure(seed: SeedWorker) -> None:
    """Basic Job Structure: ``class ProcessOrderJob`` ...
    ``OrderMailer.confirmation(order).deliver_later``.
    """
    order = Table.create(Order)
    ProcessOrderJob.perform_later(order.id)
    assert seed.wait_for_values(1) == [("mail", f"Order {order.id}")]
    assert order.status == "processed"


def test_basic_job_structure_retries_a_missing_order(
    adapter: TestAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    """Basic Job Structure: ``retry_on ActiveRecord::RecordNotFound, wait: 5.seconds, attempts:
    3``.
    """
    started = datetime.now(timezone.utc)
    ProcessOrderJob.perform_now(404)
    retry = assert_enqueued_with(job=ProcessOrderJob, args=[404])
    assert timedelta(seconds=5) <= retry.scheduled_at - started < timedelta(seconds=7)
    assert "Failed to process order 404" in caplog.text


# --- 2. Queue Configuration --------------------------------------------------------------------


class HighPriorityJob(ApplicationJob):
    queue_as("urgent")

    @queue_as  # Set queue dynamically (the later declaration wins)
    def queue(self) -> str:
        model = self.arguments[0]
        return "urgent" if model.attributes.get("premium") else "default"

    def perform(self, model: Record) -> None:
        BUFFER.add((self.queue_name, model.id))


def test_queue_configuration_dynamic(seed: SeedWorker) -> None:
    """Queue Configuration: ``queue_as :urgent`` then ``queue_as do model.premium? ? ... end``."""
    premium, plain = Table.create(Order, attributes={"premium": True}), Table.create(Order)
    HighPriorityJob.perform_later(premium)
    HighPriorityJob.perform_later(plain)
    assert sorted(seed.wait_for_values(2)) == [("default", plain.id), ("urgent", premium.id)]


# --- 3. Using Unique Job Keys ------------------------------------------------------------------


class ImportDataJob(ApplicationJob):
    def perform(self, import_id: int) -> None:
        record = Table.find(Import, import_id)
        if record.status == "completed":  # Check if already processed
            BUFFER.add("done already")
            return
        with record.lock:  # import.with_lock
            if record.status == "completed":
                return
            record.status = "completed"  # process_import; update!(status: 'completed')
            BUFFER.add("imported")


def test_using_unique_job_keys_lock(seed: SeedWorker) -> None:
    """Using Unique Job Keys: ``return if import.completed?; import.with_lock do ... end``."""
    record = Table.create(Import)
    ImportDataJob.perform_later(record.id)
    ImportDataJob.perform_later(record.id)
    assert seed.wait_for_values(2) == ["imported", "done already"]


# --- 4. Database Transactions ------------------------------------------------------------------

TRANSACTION = threading.Lock()  # ActiveRecord::Base.transaction


class UpdateInventoryJob(ApplicationJob):
    def perform(self, product_id: int, quantity_change: int) -> None:
        with TRANSACTION:
            product = Table.find(Product, product_id)  # Product.lock.find
            product.attributes["stock"] += quantity_change  # update_inventory!
            audit = Table.create(
                Record, attributes={"product": product.id, "change": quantity_change}
            )
            audit.attributes["processed_at"] = datetime.now(timezone.utc)  # InventoryAudit.create!
        BUFFER.add(quantity_change)


def test_database_transactions(seed: SeedWorker) -> None:
    """Database Transactions: ``ActiveRecord::Base.transaction do Product.lock.find ... end``."""
    product = Table.create(Product, attributes={"stock": 10})
    UpdateInventoryJob.perform_later(product.id, -3)
    UpdateInventoryJob.perform_later(product.id, 5)
    seed.wait_for_values(2)
    assert product.attributes["stock"] == 12
    audits = [r for r in Table.rows.values() if r.attributes.get("product") == product.id]
    assert sorted(a.attributes["change"] for a in audits) == [-3, 5]


# --- 5. Retry Configuration --------------------------------------------------------------------


class SMTPServerError(smtplib.SMTPException):
    """Net::SMTPServerError."""


class SendEmailJob(ApplicationJob):
    retry_on(SMTPServerError, wait=EXPONENTIALLY_LONGER, attempts=5)
    retry_on(TimeoutError, wait=timedelta(minutes=1), attempts=3)

    @discard_on(DeserializationError)
    def log_discard(self, error: DeserializationError) -> None:
        log.error("Failed to deserialize job: %s", error)

    def perform(self, user_id: int, email_type: str) -> None:
        error = {"smtp": SMTPServerError, "timeout": TimeoutError}.get(email_type)
        if error:
            raise error(email_type)  # EmailService.new(user).send_email(email_type)
        BUFFER.add(email_type)


@pytest.mark.parametrize(("email_type", "wait"), [("smtp", 3), ("timeout", 60)])
def test_retry_configuration(adapter: TestAdapter, email_type: str, wait: int) -> None:
    """Retry Configuration: ``retry_on Net::SMTPServerError, wait: :exponentially_longer`` /
    1.minute.
    """
    started = datetime.now(timezone.utc)
    SendEmailJob.perform_now(1, email_type)
    retry = assert_enqueued_with(job=SendEmailJob, args=[1, email_type])
    assert (
        timedelta(seconds=wait) <= retry.scheduled_at - started < timedelta(seconds=wait * 1.2 + 1)
    )


# --- 6. Custom Error Handling ------------------------------------------------------------------


class InsufficientFunds(Exception): ...


class CardExpired(Exception): ...


class ProcessPaymentJob(ApplicationJob):
    def perform(self, payment_id: int) -> None:
        payment = Table.find(Payment, payment_id)
        try:
            error = payment.attributes.get("error")
            if error:
                raise error()  # PaymentProcessor.charge!(payment)
            payment.status = "charged"
            BUFFER.add("charged")
        except InsufficientFunds:
            payment.status = "insufficient_funds"
            MailDeliveryJob.perform_later("payer@example.com", "Insufficient funds")
        except CardExpired as error:
            payment.status = "card_expired"
            self.discard_job(error)  # Don't retry - user needs to update card
            BUFFER.add("discarded")


def test_custom_error_handling(seed: SeedWorker) -> None:
    """Custom Error Handling: ``rescue PaymentProcessor::InsufficientFunds`` / ``CardExpired
    ... discard_job``.
    """
    poor = Table.create(Payment, attributes={"error": InsufficientFunds})
    expired = Table.create(Payment, attributes={"error": CardExpired})
    ProcessPaymentJob.perform_later(poor.id)
    ProcessPaymentJob.perform_later(expired.id)
    assert sorted(map(str, seed.wait_for_values(2))) == sorted(
        map(str, [("mail", "Insufficient funds"), "discarded"])
    )
    assert (poor.status, expired.status) == ("insufficient_funds", "card_expired")


# --- 7. Efficient Batch Jobs -------------------------------------------------------------------


class ProcessItemJob(ApplicationJob):
    def perform(self, item_id: int) -> None:
        BUFFER.add(item_id)


class BatchProcessJob(ApplicationJob):
    def perform(self, batch_id: int) -> None:
        batch = Table.find(Batch, batch_id)
        items = batch.attributes["items"]
        for start in range(0, len(items), 100):  # find_in_batches(batch_size: 100)
            chunk = items[start : start + 100]
            for item_id in chunk:
                ProcessItemJob.perform_later(item_id)
            batch.attributes["processed_count"] += len(chunk)  # increment!


def test_efficient_batch_jobs(seed: SeedWorker) -> None:
    """Efficient Batch Jobs: ``batch.items.find_in_batches(batch_size: 100)`` + ``increment!``."""
    batch = Table.create(Batch, attributes={"items": list(range(130)), "processed_count": 0})
    BatchProcessJob.perform_later(batch.id)
    assert sorted(seed.wait_for_values(130)) == list(range(130))
    assert batch.attributes["processed_count"] == 130


# --- 8. Recurring Jobs Pattern -----------------------------------------------------------------


class DailyReportJob(ApplicationJob):
    def perform(self, day: date | None = None) -> None:
        day = day or date.today()
        if any(isinstance(r, Report) and r.attributes["date"] == day for r in Table.rows.values()):
            BUFFER.add("duplicate")  # Prevent duplicate runs
            return
        Table.create(Report, attributes={"date": day, "type": "daily"})
        MailDeliveryJob.perform_later("ops@example.com", f"Daily {day.isoformat()}")


def test_recurring_jobs_pattern(seed: SeedWorker) -> None:
    """Recurring Jobs Pattern: ``def perform(date = Date.current)`` ... ``return if
    Report.exists?``.
    """
    DailyReportJob.perform_later()  # the default argument: today
    DailyReportJob.perform_later()
    values = seed.wait_for_values(2)
    assert sorted(map(str, values)) == sorted(
        map(str, ["duplicate", ("mail", f"Daily {date.today().isoformat()}")])
    )


# --- 9. Performance Optimization: config/sidekiq.yml (in a ruby block) -------------------------


def test_performance_optimization_queue_weights() -> None:
    """1. Queue Priority: ``:queues: - [urgent, 6] - [default, 3] - [low, 1]``
    (config/sidekiq.yml).
    """
    app = Celery("weights", broker="memory://", set_as_current=False)
    app.conf.activejob_queue_weights = {"urgent": 6, "default": 3, "low": 1}
    init_app(app)
    weights = activejob_celery.current_settings().queue_weights
    assert weights == {"urgent": 6, "default": 3, "low": 1}
    app.close()


# --- 10. Job Splitting -------------------------------------------------------------------------


class LargeDataProcessJob(ApplicationJob):
    BATCH_SIZE = 4  # the seed uses BATCH_SIZE without defining it
    DATASETS: ClassVar[dict[int, list[int]]] = {9: list(range(10))}

    def perform(self, dataset_id: int, offset: int = 0) -> None:
        batch = self.DATASETS[dataset_id][offset : offset + self.BATCH_SIZE]
        if not batch:
            return
        BUFFER.add(batch)  # process_batch(batch)
        type(self).perform_later(dataset_id, offset + self.BATCH_SIZE)  # Queue next batch


def test_job_splitting_self_chaining(seed: SeedWorker) -> None:
    """2. Job Splitting: ``self.class.perform_later(dataset_id, offset + BATCH_SIZE)``."""
    LargeDataProcessJob.perform_later(9)
    assert seed.wait_for_values(3) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


# --- 11. Monitoring and Logging ----------------------------------------------------------------

STATSD: list[str] = []


class MonitoredJob(ApplicationJob):
    @around_perform
    def monitor(self) -> Iterator[None]:
        started = time.monotonic()
        log.info("Starting %s with args: %s", type(self).__name__, self.arguments)
        yield
        log.info("Completed %s in %.3fs", type(self).__name__, time.monotonic() - started)
        STATSD.append("jobs.monitored_job.duration")  # StatsD.timing(...)

    def perform(self, value: Any) -> None:
        BUFFER.add(value)


def test_monitoring_and_logging(seed: SeedWorker, caplog: pytest.LogCaptureFixture) -> None:
    """Monitoring and Logging: ``around_perform do |job, block| ... Rails.logger.info ...
    StatsD``.
    """
    STATSD.clear()
    with caplog.at_level(logging.INFO, logger="seeds.004"):
        MonitoredJob.perform_later(42)
        seed.wait_for_values(1)
        seed.wait_until(lambda: STATSD)
    assert "Starting MonitoredJob with args: [42]" in caplog.text
    assert "Completed MonitoredJob in" in caplog.text


# --- 12. Testing Jobs --------------------------------------------------------------------------


def test_testing_jobs_rspec(adapter: TestAdapter) -> None:
    """Testing Jobs: ``RSpec.describe ProcessOrderJob`` (processes the order; enqueues the
    mail).
    """
    order = Table.create(Order, attributes={})
    assert order.status == "pending"
    ProcessOrderJob.perform_now(order.id)
    assert order.status == "processed"  # .from('pending').to('processed')
    assert_enqueued_with(job=MailDeliveryJob)  # have_enqueued_job(ActionMailer::MailDeliveryJob)
