"""Seed 003, "Background Jobs" (Rails Blueprint with GoodJob: setup, jobs, cron, dashboard, stats).

One test per ```ruby block of ../shared/seeds/003_224c9d09e4adfa99.txt, in order; see README.md.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner

import activejob_celery
from activejob_celery import (
    EXPONENTIALLY_LONGER,
    UNLIMITED,
    ApplicationJob,
    JobInterruptedError,
    after_discard,
    around_perform,
    init_app,
    queue_as,
    queue_patterns,
    queue_with_priority,
    retry_on,
)
from activejob_celery.cli.stats import collect_stats, stats
from activejob_celery.dead_letters import store_for
from activejob_celery.recurring import load_recurring
from activejob_celery.scheduler import scheduled_set_for
from activejob_celery.testing import (
    TestAdapter,
    assert_enqueued_with,
    perform_enqueued_jobs,
)
from tests.seeds.records import Mail, Record, RecordNotFound, Table, deliveries, welcome
from tests.support.broker_lists import queue_lists
from tests.support.seeds import BUFFER, SeedWorker, asgi_get
from tests.support.worker import wait_for

QUEUES = ["default", "urgent", "low", "mailers", "maintenance", "scheduled", "batch", "ranked"]


class User(Record):
    model = "User"


class Order(Record):
    model = "Order"


class NetworkError(Exception): ...


class CustomError(Exception): ...


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    Table.rows.clear()
    deliveries.clear()
    yield
    Table.rows.clear()


class MailDeliveryJob(ApplicationJob):
    """What ``deliver_later`` enqueues."""

    queue_as("mailers")

    def perform(self, to: str, subject: str) -> None:
        Mail(to=[to], subject=subject).deliver_now()
        BUFFER.add(("mail", to, subject))


# --- 1. Job Storage ----------------------------------------------------------------------------


class StoredJob(ApplicationJob):
    def perform(self) -> None: ...


def test_job_storage_is_redis(seed: SeedWorker) -> None:
    """Job Storage: ``good_jobs / good_job_processes / good_job_settings`` (GoodJob tables).

    No tables here: queued jobs are broker messages, future ones are in the scheduled set, failed
    ones in the dead-letter store, all in Redis. A job set an hour ahead is found there.
    """
    job = StoredJob.set(wait=timedelta(hours=1)).perform_later()
    [stored] = [entry for entry in scheduled_set_for(seed.app).list() if entry.job_id == job.job_id]
    assert stored.queue_name == "default"
    scheduled_set_for(seed.app).delete(job.job_id)


# --- 2. Job Classes ----------------------------------------------------------------------------


class ExampleJob(ApplicationJob):
    queue_as("default")

    def perform(self, user_id: int) -> None:
        user = Table.find(User, user_id)
        BUFFER.add(user.id)


def test_job_classes_example_job(seed: SeedWorker) -> None:
    """Job Classes: ``class ExampleJob < ApplicationJob; queue_as :default;
    User.find(user_id)``.
    """
    user = Table.create(User)
    ExampleJob.perform_later(user.id)
    assert seed.wait_for_values(1) == [user.id]


# --- 3. Application Setup ----------------------------------------------------------------------


def test_application_setup_adapter_and_good_job_yml(adapter: TestAdapter) -> None:
    """Application Setup: ``config.active_job.queue_adapter = :good_job`` + good_job.yml.

    The adapter choice is ``init_app(app)``; ``max_threads: 5`` is Celery's ``worker_concurrency``.
    """
    app = Celery("good_job_app", broker="memory://", set_as_current=False)
    app.conf.worker_concurrency = 5  # max_threads: 5
    init_app(app)
    assert app.conf.worker_concurrency == 5
    ExampleJob.perform_later(1)
    assert_enqueued_with(job=ExampleJob, args=[1])
    app.close()


class AnyQueueJob(ApplicationJob):
    def perform(self) -> None:
        BUFFER.add(self.queue_name)


# --- 4. Worker Process -------------------------------------------------------------------------


class InlineJob(ApplicationJob):
    queue_adapter = "inline"

    def perform(self) -> None:
        BUFFER.add("inline")


def test_worker_process_procfile() -> None:
    """Worker Process: ``worker: bundle exec good_job start`` / ``GOOD_JOB_EXECUTION_MODE=async``.

    A Procfile has no Python meaning: the worker line is ``celery -A app worker``; GoodJob's async
    mode (the web process runs jobs) is the inline adapter.
    """
    usage = subprocess.run(
        [sys.executable, "-m", "celery", "worker", "--help"], capture_output=True, text=True
    )
    assert usage.returncode == 0 and "--queues" in usage.stdout
    InlineJob.perform_later()
    assert BUFFER.values == ["inline"]


# --- 5. Basic Job ------------------------------------------------------------------------------


class SendWelcomeEmailJob(ApplicationJob):
    queue_as("default")

    def perform(self, user: User) -> None:
        welcome(user).deliver_now()  # UserMailer.welcome_email(user).deliver_now
        BUFFER.add(user.id)


def test_basic_job_enqueue_now_and_in_an_hour(seed: SeedWorker) -> None:
    """Basic Job: ``SendWelcomeEmailJob.perform_later(user)`` and ``set(wait: 1.hour)``."""
    user = Table.create(User, attributes={"email": "kim@example.com", "name": "Kim"})
    SendWelcomeEmailJob.perform_later(user)
    later = SendWelcomeEmailJob.set(wait=timedelta(hours=1)).perform_later(user)
    assert seed.wait_for_values(1) == [user.id]
    assert [mail.to for mail in deliveries] == [["kim@example.com"]]
    assert scheduled_set_for(seed.app).get(later.job_id) is not None
    scheduled_set_for(seed.app).delete(later.job_id)


# --- 6. Job with Priority ----------------------------------------------------------------------


class ImportantJob(ApplicationJob):
    queue_as("urgent")

    @property  # type: ignore[override]
    def priority(self) -> int:
        return -10

    def perform(self, data: str) -> None:
        BUFFER.add((data, self.priority))


def test_job_with_priority_method(seed: SeedWorker) -> None:
    """Job with Priority: ``def priority; -10; end`` (lower is higher priority).

    The class is defined at module level: a running worker knows the tasks registered when it
    started (Celery's rule), and the module's worker starts before the tests run.
    """
    job = ImportantJob.perform_later("critical")
    assert job.successfully_enqueued, job.enqueue_error
    assert seed.wait_for_values(1, timeout=10) == [("critical", -10)]


def test_job_with_priority_plain_method(adapter: TestAdapter) -> None:
    """Job with Priority: ``def priority; -10; end`` written as a plain method."""

    class PlainPriorityJob(ApplicationJob):
        def priority(self) -> int:  # type: ignore[override]
            return -10

        def perform(self) -> None: ...

    job = PlainPriorityJob.perform_later()
    assert job.successfully_enqueued, job.enqueue_error
    assert_enqueued_with(job=PlainPriorityJob, priority=-10)


# --- 7. Job with Retries -----------------------------------------------------------------------


class RetryableJob(ApplicationJob):
    retry_on(Exception, wait=timedelta(seconds=5), attempts=3)
    retry_on(JobInterruptedError, wait=0, attempts=UNLIMITED)  # GoodJob::InterruptError

    def perform(self, interrupted: bool) -> None:
        if interrupted:
            raise JobInterruptedError("worker died mid-run")
        raise RuntimeError("might fail")


@pytest.mark.parametrize(("interrupted", "wait"), [(False, 5), (True, 0)])
def test_job_with_retries_and_interrupt_errors(
    adapter: TestAdapter, interrupted: bool, wait: int
) -> None:
    """Job with Retries: ``retry_on StandardError, wait: 5.seconds`` /
    ``GoodJob::InterruptError``.
    """
    started = datetime.now(timezone.utc)
    RetryableJob.perform_now(interrupted)
    retry = assert_enqueued_with(job=RetryableJob, args=[interrupted])
    waited = (retry.scheduled_at or started) - started
    assert timedelta(seconds=wait) <= waited < timedelta(seconds=wait * 1.2 + 1)


# --- 8. Email Jobs -----------------------------------------------------------------------------


class EmailJob(ApplicationJob):
    queue_as("mailers")

    def perform(
        self, mail_template: str, recipient: User, variables: dict[str, Any] | None = None
    ) -> None:
        variables = variables or {}
        Mail(
            to=[recipient.attributes["email"]], subject=mail_template, body=str(variables)
        ).deliver_now()
        BUFFER.add(mail_template)


def test_email_jobs_template_recipient_variables(seed: SeedWorker) -> None:
    """Email Jobs: ``EmailJob.perform_later('welcome_email', user, { name: user.name })``."""
    user = Table.create(User, attributes={"email": "lu@example.com", "name": "Lu"})
    EmailJob.perform_later("welcome_email", user, {"name": user.attributes["name"]})
    seed.wait_for_values(1)
    assert (deliveries[0].to, deliveries[0].body) == (["lu@example.com"], "{'name': 'Lu'}")


# --- 9. Data Processing ------------------------------------------------------------------------


class DataImportJob(ApplicationJob):
    queue_as("low")

    def perform(self, import_file_path: str) -> None:
        with open(import_file_path, newline="") as handle:
            for row in csv.DictReader(handle):
                self.process_row(row)
        BUFFER.add("imported")

    def process_row(self, row: dict[str, str]) -> None:
        if "@" not in row["email"]:  # User.create! raising ActiveRecord::RecordInvalid
            BUFFER.add(("invalid", row["email"]))  # Rails.logger.error "Import error"
            return
        Table.create(User, attributes={"email": row["email"], "name": row["name"]})


def test_data_processing_csv_import(seed: SeedWorker, tmp_path: Path) -> None:
    """Data Processing: ``CSV.foreach(import_file_path, headers: true) ... User.create!``."""
    path = tmp_path / "users.csv"
    path.write_text("email,name\na@example.com,A\nbroken,B\nc@example.com,C\n")
    DataImportJob.perform_later(str(path))
    assert seed.wait_for_values(2) == [("invalid", "broken"), "imported"]
    assert sorted(u.attributes["name"] for u in Table.rows.values()) == ["A", "C"]


# --- 10. Cleanup Jobs --------------------------------------------------------------------------


class CleanupJob(ApplicationJob):
    queue_as("maintenance")
    uploads: Path | None = None

    def perform(self) -> None:
        for key, row in list(Table.rows.items()):  # Log.where('created_at < ?', 30.days.ago)
            if row.attributes.get("age_days", 0) > 30:
                del Table.rows[key]
        assert self.uploads is not None
        for file in self.uploads.glob("*"):  # Dir.glob(Rails.root.join('tmp', 'uploads', '*'))
            if file.stat().st_mtime < time.time() - 86400:
                file.unlink()
        BUFFER.add("clean")


def test_cleanup_jobs_logs_and_old_uploads(seed: SeedWorker, tmp_path: Path) -> None:
    """Cleanup Jobs: ``Log.where(...).destroy_all``, ``Session.expired``, old files in
    tmp/uploads.
    """
    CleanupJob.uploads = tmp_path
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    stale = Table.create(Record, attributes={"age_days": 40})
    Table.create(Record, attributes={"age_days": 1})
    CleanupJob.perform_later()
    seed.wait_for_values(1)
    assert (old.exists(), new.exists()) == (False, True)
    assert ("Record", stale.id) not in Table.rows and len(Table.rows) == 1


# --- 11. Configuration (cron) ------------------------------------------------------------------


class DataSyncJob(ApplicationJob):
    def perform(self) -> None: ...


class WeeklyReportJob(ApplicationJob):
    def perform(self, email: str) -> None: ...


# ``class: DataSyncJob`` as written works when the bare name is unique in the app; the test
# suite shares one registry (other modules define the same names), so the entries give job_name.
GOOD_JOB_CRON = {
    "daily_cleanup": {"cron": "0 2 * * *", "class": CleanupJob.job_name},
    "hourly_sync": {"cron": "0 * * * *", "class": DataSyncJob.job_name},
    "weekly_report": {
        "cron": "0 9 * * 1",
        "class": WeeklyReportJob.job_name,
        "args": ["admin@example.com"],
    },
}


def test_configuration_good_job_cron() -> None:
    """Configuration: ``config.good_job.cron = { daily_cleanup: { cron: "0 2 * * *", class: ...
    } }``.
    """
    jobs = {job.key: job for job in load_recurring(GOOD_JOB_CRON)}
    assert jobs["daily_cleanup"].schedule.cron == "0 2 * * *"
    assert jobs["weekly_report"].args == ["admin@example.com"]


def test_configuration_with_schedule_key() -> None:
    """Configuration: the same entries with this library's ``schedule:`` key load today."""
    entries = {key: {"schedule": e["cron"], **{k: v for k, v in e.items() if k != "cron"}}
               for key, e in GOOD_JOB_CRON.items()}  # fmt: skip
    jobs = {job.key: job for job in load_recurring(entries)}
    assert jobs["hourly_sync"].job_class is DataSyncJob
    assert jobs["weekly_report"].schedule.cron == "0 9 * * 1"


# --- 12. Cron Job Example ----------------------------------------------------------------------


class DailyReportJob(ApplicationJob):
    queue_as("scheduled")

    def perform(self, day: str | None = None) -> None:
        report = self.generate_report(day or datetime.now(timezone.utc).date().isoformat())
        for admin in ["a@example.com", "b@example.com"]:  # Admin.all.each
            MailDeliveryJob.perform_later(admin, f"report {report['day']}")

    def generate_report(self, day: str) -> dict[str, Any]:
        return {"day": day, "new_users": 0, "posts_published": 0, "total_revenue": 0}


def test_cron_job_example_mails_every_admin(seed: SeedWorker) -> None:
    """Cron Job Example: ``class DailyReportJob ... Admin.all.each {
    AdminMailer...deliver_later }``.
    """
    DailyReportJob.perform_later("2030-01-02")
    assert sorted(seed.wait_for_values(2)) == [
        ("mail", "a@example.com", "report 2030-01-02"),
        ("mail", "b@example.com", "report 2030-01-02"),
    ]


# --- 13. Dashboard Customization ---------------------------------------------------------------


def test_dashboard_customization_basic_auth(seed: SeedWorker) -> None:
    """Dashboard Customization: ``mount GoodJob::Engine => 'admin/good_job'`` with
    Rack::Auth::Basic.
    """
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from activejob_celery.web import create_app

    dashboard = create_app(seed.app, username="admin", password="secret")
    site = Starlette(routes=[Mount("/admin/good_job", app=dashboard)])
    assert asgi_get(site, "/admin/good_job/")[0] == 401
    assert asgi_get(site, "/admin/good_job/", basic_auth=("admin", "wrong"))[0] == 401
    assert asgi_get(site, "/admin/good_job/", basic_auth=("admin", "secret"))[0] == 200


# --- 14. Job Statistics ------------------------------------------------------------------------


class ParkedJob(ApplicationJob):
    queue_as("parked")  # no worker consumes it: the job stays queued

    def perform(self) -> None: ...


def test_job_statistics_queue_counts(seed: SeedWorker) -> None:
    """Job Statistics: ``GoodJob::Job.queued.group(:queue_name).count`` → ``jobs stats``."""
    ParkedJob.perform_later()
    ParkedJob.perform_later()
    report = collect_stats(seed.app)
    assert report["queues"]["parked"] == 2
    seed.server.client(1).delete(*queue_lists("parked"))


def test_job_statistics_per_class(seed: SeedWorker) -> None:
    """Job Statistics: ``GoodJob::Job.finished.count`` ... ``where(job_class:
    'EmailJob').average``.
    """
    ExampleJob.perform_later(1)  # discarded? no: RecordNotFound fails it (a dead letter)
    ExampleJob.perform_later(Table.create(User).id)
    seed.wait_for_values(1)

    def example_row() -> dict[str, Any] | None:
        # Counts reach Redis once a second (one pipeline per process), so poll.
        result = CliRunner().invoke(
            stats, ["--by-class", "--json"], obj=SimpleNamespace(app=seed.app)
        )
        assert result.exit_code == 0, result.output
        by_class = json.loads(result.output)["by_class"] or {}
        rows = [row for name, row in by_class.items() if name.endswith("ExampleJob")]
        return rows[0] if rows and rows[0]["hour"]["performed"] >= 1 else None

    example = seed.wait_until(example_row)
    assert example["day"]["performed"] >= 1 and "p50" in json.dumps(example)


# --- 15. Retry Configuration -------------------------------------------------------------------

DISCARDS: list[str] = []


class CriticalJob(ApplicationJob):
    retry_on(NetworkError, wait=EXPONENTIALLY_LONGER, attempts=5)

    @retry_on(CustomError)
    def retry_or_discard(self, error: CustomError) -> None:
        if self.executions < 3:
            self.retry_job(wait=10 * self.executions)
        else:
            self.discard_job(error)  # discard_job("Too many failures: ...")

    @after_discard
    def note_discard(self, error: BaseException) -> None:
        DISCARDS.append(type(error).__name__)

    def perform(self, kind: str) -> None:
        try:
            raise NetworkError() if kind == "network" else CustomError("custom")
        except Exception:
            BUFFER.add(("notified", self.job_id))  # ErrorNotifier.notify(e, job_id: job_id)
            raise


def test_retry_configuration_network_error(adapter: TestAdapter) -> None:
    """Retry Configuration: ``retry_on NetworkError, wait: :exponentially_longer, attempts:
    5``.
    """
    started = datetime.now(timezone.utc)
    job = CriticalJob.perform_later("network")
    perform_enqueued_jobs(only=CriticalJob, at=started.timestamp() + 1)  # the first run only
    assert BUFFER.values == [("notified", job.job_id)]
    retry = assert_enqueued_with(job=CriticalJob, args=["network"])
    assert timedelta(seconds=3) <= retry.scheduled_at - started < timedelta(seconds=5)


def test_retry_configuration_discard_job_in_the_block(adapter: TestAdapter) -> None:
    """Retry Configuration: ``retry_on CustomError do |job, error| ... job.discard_job(...)``."""
    DISCARDS.clear()
    perform_enqueued_jobs(block=lambda: CriticalJob.perform_later("custom"))
    assert DISCARDS == ["CustomError"]


# --- 16. Error Notifications -------------------------------------------------------------------


class NotifyingBaseJob(ApplicationJob, abstract=True):  # class ApplicationJob < ActiveJob::Base
    @around_perform
    def notify_failures(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            BUFFER.add(("failed", self.executions))  # Rails.logger.error "Job failed: ..."
            if self.executions >= 3:
                MailDeliveryJob.perform_later(
                    "admin@example.com", f"{type(self).__name__}: {error}"
                )
            raise


class FlakyJob(NotifyingBaseJob):
    retry_on(RuntimeError, wait=0, attempts=3)

    def perform(self) -> None:
        raise RuntimeError("flaky")


def test_error_notifications_after_three_executions(seed: SeedWorker) -> None:
    """Error Notifications: ``around_perform ... if job.executions >= 3
    AdminMailer...deliver_later``.
    """
    FlakyJob.perform_later()
    values = seed.wait_for_values(4)
    assert values == [
        ("failed", 1),
        ("failed", 2),
        ("failed", 3),
        ("mail", "admin@example.com", "FlakyJob: flaky"),
    ]


# --- 17. Queue Prioritization ------------------------------------------------------------------


class UrgentJob(ApplicationJob):
    queue_as("urgent")
    queue_with_priority(-10)  # self.priority = -10

    def perform(self) -> None:
        BUFFER.add(("urgent", self.priority))


class BatchJob(ApplicationJob):
    queue_as("low")
    queue_with_priority(10)

    def perform(self) -> None:
        BUFFER.add(("batch", self.priority))


def test_queue_prioritization_self_priority(seed: SeedWorker) -> None:
    """Queue Prioritization: ``UrgentJob queue_as :urgent; self.priority = -10`` / ``BatchJob
    10``.
    """
    UrgentJob.perform_later()
    BatchJob.perform_later()
    assert sorted(seed.wait_for_values(2)) == [("batch", 10), ("urgent", -10)]


class RankedJob(ApplicationJob):
    queue_as("ranked")

    def perform(self, label: str) -> None:
        BUFFER.add(label)


def test_queue_prioritization_good_job_yml_weights() -> None:
    """Queue Prioritization (good_job.yml): ``queues:
    "urgent:5;default:3;low:1;maintenance:1"``.
    """
    app = Celery("weights", broker="memory://", set_as_current=False)
    app.conf.activejob_queue_weights = {"urgent": 5, "default": 3, "low": 1, "maintenance": 1}
    init_app(app)
    assert activejob_celery.current_settings().queue_weights["urgent"] == 5
    app.close()


# --- 18. Batch Processing ----------------------------------------------------------------------


class BatchProcessJob(ApplicationJob):
    queue_as("batch")

    def perform(self, batch_id: int) -> None:
        items = [r for r in list(Table.rows.values()) if r.attributes.get("batch_id") == batch_id]
        for start in range(0, len(items), 100):  # find_in_batches(batch_size: 100)
            for item in items[start : start + 100]:  # ActiveRecord::Base.transaction
                item.status = "processed"
            BUFFER.add(("batch", start))


def test_batch_processing_in_slices(seed: SeedWorker) -> None:
    """Batch Processing: ``Item.where(batch_id:).find_in_batches(batch_size: 100)`` +
    transaction.
    """
    items = [Table.create(Record, attributes={"batch_id": 3}) for _ in range(150)]
    BatchProcessJob.perform_later(3)
    assert seed.wait_for_values(2) == [("batch", 0), ("batch", 100)]
    assert all(item.status == "processed" for item in items)


# --- 19. Connection Pooling --------------------------------------------------------------------


def test_connection_pooling_database_yml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection Pooling: ``pool: <%= RAILS_MAX_THREADS + GOOD_JOB_MAX_THREADS %>`` (database.yml).

    No database pool here; the broker connection pool is Celery's ``broker_pool_limit``.
    """
    monkeypatch.setenv("RAILS_MAX_THREADS", "5")
    app = Celery("pool", broker="memory://", set_as_current=False)
    app.conf.broker_pool_limit = int(os.environ["RAILS_MAX_THREADS"]) + int(
        os.environ.get("GOOD_JOB_MAX_THREADS", "5")
    )
    init_app(app)
    assert app.pool.limit == 10
    app.close()


# --- 20. Unit Tests ----------------------------------------------------------------------------


def test_unit_tests_send_welcome_email() -> None:
    """Unit Tests: ``SendWelcomeEmailJob.perform_now(user)`` changes deliveries by 1; body has
    name.
    """
    user = Table.create(User, attributes={"email": "jo@example.com", "name": "Jo"})
    SendWelcomeEmailJob.perform_now(user)
    assert len(deliveries) == 1
    assert "Jo" in deliveries[-1].body


# --- 21. Integration Tests ---------------------------------------------------------------------


def sign_up(email: str, password: str) -> User:
    """``visit sign_up_path; fill_in ...; click_button 'Sign Up'``."""
    user: User = Table.create(User, attributes={"email": email, "password": password})
    SendWelcomeEmailJob.perform_later(user)
    return user


def test_integration_tests_sign_up_sends_mail(adapter: TestAdapter) -> None:
    """Integration Tests: ``perform_enqueued_jobs do visit sign_up_path ... end``."""
    perform_enqueued_jobs(block=lambda: sign_up("newuser@example.com", "password123"))
    assert "newuser@example.com" in deliveries[-1].to


# --- 22. Testing Scheduled Jobs ----------------------------------------------------------------


def test_testing_scheduled_jobs_cron_task_runs(adapter: TestAdapter) -> None:
    """Testing Scheduled Jobs: ``GoodJob::Cron.send(:task, :daily_cleanup).send(:run)``.

    The entry's ``enqueue()`` is what a cron tick runs: it calls ``CleanupJob.perform_later``.
    """
    [entry] = load_recurring(
        {"daily_cleanup": {"schedule": "0 2 * * *", "class": CleanupJob.job_name}}
    )
    entry.enqueue()
    assert_enqueued_with(job=CleanupJob, queue="maintenance")


# --- 23. Idempotent Jobs -----------------------------------------------------------------------


class IdempotentJob(ApplicationJob):
    def perform(self, order_id: int) -> None:
        order = Table.find(Order, order_id)
        if order.status == "processed":
            BUFFER.add("skip")
            return
        with order.lock:  # order.with_lock
            if order.status == "processed":
                return
            order.status = "processed"  # process!; update!(processed: true)
            BUFFER.add("processed")


def test_idempotent_jobs(seed: SeedWorker) -> None:
    """1. Idempotent Jobs: ``return if order.processed?; order.with_lock do ... end``."""
    order = Table.create(Order)
    IdempotentJob.perform_later(order.id)
    IdempotentJob.perform_later(order.id)
    assert seed.wait_for_values(2) == ["processed", "skip"]


# --- 24. Job Timeouts --------------------------------------------------------------------------


def test_job_timeouts_good_job_timeout() -> None:
    """2. Job Timeouts: ``def self.good_job_timeout; 10.minutes; end``."""
    error_class = activejob_celery.JobTimeoutError

    class LongRunningJob(ApplicationJob):
        timeout = timedelta(seconds=0.2)

        def perform(self) -> None:
            time.sleep(2)

    with pytest.raises(error_class):
        LongRunningJob.perform_now()


# --- 25. Monitoring ----------------------------------------------------------------------------

STATSD: list[tuple[str, float, list[str]]] = []


class InstrumentedJob(ApplicationJob):
    def perform(self, data: str) -> None:
        started = time.monotonic()
        BUFFER.add(data)  # Do work...
        STATSD.append(("jobs.duration", time.monotonic() - started, [f"job:{type(self).__name__}"]))


def test_monitoring_statsd_timing(seed: SeedWorker) -> None:
    """3. Monitoring: ``StatsD.timing('jobs.duration', duration, tags:
    ["job:#{self.class.name}"])``.
    """
    STATSD.clear()
    InstrumentedJob.perform_later("work")
    seed.wait_for_values(1)
    seed.wait_until(lambda: STATSD)
    [(name, duration, tags)] = STATSD
    assert (name, tags) == ("jobs.duration", ["job:InstrumentedJob"]) and duration >= 0


# --- 26. Resource Limits -----------------------------------------------------------------------


class MemoryIntensiveJob(ApplicationJob):
    def perform(self, large_dataset_id: int) -> None:
        records = list(range(large_dataset_id))
        for start in range(0, len(records), 100):  # find_in_batches(batch_size: 100)
            BUFFER.add(sum(records[start : start + 100]))
            if len(gc.get_objects()) > 10_000_000:  # GC.stat[:heap_live_slots] > 1_000_000
                gc.collect()  # GC.start


def test_resource_limits_batches_and_gc(seed: SeedWorker) -> None:
    """4. Resource Limits: ``find_in_batches(batch_size: 100) ... GC.start if GC.stat[...]``."""
    MemoryIntensiveJob.perform_later(250)
    assert seed.wait_for_values(3) == [sum(range(100)), sum(range(100, 200)), sum(range(200, 250))]


# --- 27. Jobs Not Running ----------------------------------------------------------------------


def test_jobs_not_running_worker_processes(seed: SeedWorker) -> None:
    """Jobs Not Running: ``GoodJob::Process.all`` and stuck ``running`` jobs.

    Worker processes answer ``app.control.inspect().ping()``; a job stuck with a dead worker is
    delivered again by the reliable fetch (at-least-once), so there is nothing to unlock by hand.
    """
    replies = wait_for(lambda: seed.app.control.inspect(timeout=2).ping(), timeout=30)
    assert seed.worker.hostname in replies


# --- 28. Performance Issues --------------------------------------------------------------------


class SlowJob(ApplicationJob):
    def perform(self) -> None:
        raise RecordNotFound("gone")


def test_performance_issues_depth_and_clearing_old_jobs(seed: SeedWorker) -> None:
    """Performance Issues: queue depth by queue; ``GoodJob::Job.finished.where(...).destroy_all``.

    Finished jobs are not kept here; failed ones are dead letters, purged by age.
    """
    ParkedJob.perform_later()
    assert collect_stats(seed.app)["queues"]["parked"] == 1
    seed.server.client(1).delete(*queue_lists("parked"))
    SlowJob.perform_later()
    store = store_for(seed.app)
    seed.wait_until(lambda: store.list(job_class="SlowJob"))
    assert store.purge(older_than=timedelta(0)) >= 1
    assert store.list(job_class="SlowJob") == []


def test_application_setup_queues_star(seed: SeedWorker) -> None:
    """Application Setup: development ``queues: "*"``: a worker on every queue (``-Q '*'``).

    What ``-Q '*'`` expands to at a worker's start, read from the module's broker; real
    ``celery worker -Q '*'`` processes (queues known at start and queues first used later) are
    in tests/integration/test_queue_patterns.py.
    """
    AnyQueueJob.set(queue="reports_42").perform_later()
    found = queue_patterns.known_queues(seed.app)
    assert found is not None  # a Redis broker: every queue is found, later ones too
    consumed = queue_patterns.matching(("*",), found)
    assert "reports_42" in consumed and "default" in consumed
    assert "*" not in consumed


RANK_GATE = threading.Event()


class RankGateJob(ApplicationJob):
    queue_as("ranked")

    def perform(self) -> None:
        BUFFER.add("gate")
        RANK_GATE.wait(60)  # the module's solo worker takes nothing else meanwhile


def test_queue_prioritization_lower_runs_first(seed: SeedWorker) -> None:
    """Queue Prioritization: "Lower number = higher priority": -10, None, 0, 5, 10 on one
    queue, taken by the module's real worker once it is free.
    """
    RANK_GATE.clear()
    RankGateJob.perform_later()
    seed.wait_until(lambda: BUFFER.values == ["gate"])
    try:
        for priority in (10, 5, None, 0, -10):
            RankedJob.set(priority=priority).perform_later(str(priority))
    finally:
        RANK_GATE.set()
    seed.wait_for_values(6)
    ran = BUFFER.values[1:]
    assert ran[0] == "-10" and ran[-2:] == ["5", "10"]
    assert set(ran[1:3]) == {"None", "0"}
