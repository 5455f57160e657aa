"""One file per flavour, written as the seed guides write it, loaded through the app's loader."""

from __future__ import annotations

import pytest
from celery import Celery

from activejob_celery import ApplicationJob, init_app, registry
from activejob_celery.recurring import configured_jobs


def _job(job_name: str) -> type[ApplicationJob]:
    def perform(self, *args, **kwargs):
        return args, kwargs

    class_name = job_name.rpartition(".")[2]
    return type(class_name, (ApplicationJob,), {"job_name": job_name, "perform": perform})


JOBS = [
    _job(name)
    for name in (
        "fizzy.notification.bundle.DeliverJob",
        "fizzy.card.AutoPostponeJob",
        "fizzy.session.CleanupJob",
        "fizzy.DigestJob",
        "shop.DailyDigestJob",
        "shop.ProcessPaymentsJob",
        "shop.GenerateReportsJob",
        "shop.TestJob",
        "shop.DailyReportJob",
        "shop.SyncDataJob",
        "shop.DataSyncJob",
        "shop.WeeklyReportJob",
    )
]

SOLID_QUEUE = """\
# config/recurring.yml
production:
  deliver_notifications:
    class: Notification::Bundle::DeliverJob
    schedule: "*/30 * * * *"  # Every 30 minutes

  auto_postpone_cards:
    class: Card::AutoPostponeJob
    schedule: "0 * * * *"  # Every hour

  cleanup_old_sessions:
    class: Session::CleanupJob
    schedule: "0 2 * * *"  # Daily at 2 AM

  weekly_digest:
    class: DigestJob
    schedule: "0 8 * * 1"  # Monday at 8 AM

  several:
    class: DigestJob
    schedule: every day at 9am, 3pm, 9pm
    args: ["digest"]
    queue: mail
    priority: 5
"""

GOODJOB = """\
# config.good_job.cron, written as YAML (Ruby symbol keys included)
daily_cleanup:
  cron: "0 2 * * *"  # 2 AM daily
  class: "Session::CleanupJob"
hourly_sync:
  cron: "0 * * * *"  # Every hour
  class: "DataSyncJob"
weekly_report:
  :cron: "0 9 * * 1"  # Monday 9 AM
  :class: "WeeklyReportJob"
  :args: ['admin@example.com']
  :set: {queue: reports, priority: 1}
  :description: Weekly report to the admins
"""

SIDEKIQ_CRON = """\
# config/schedule.yml (sidekiq-cron; the list form)
- name: daily_report
  cron: "0 2 * * *"
  class: DailyReportJob
  queue: low
  description: 2 AM daily
  status: enabled
- name: old_report
  cron: "0 0 3 * * *"
  class: DailyReportJob
  status: disabled
"""

SIDEKIQ_SCHEDULER = """\
# config/sidekiq.yml
:concurrency: 5
:queues:
  - [urgent, 6]
  - [default, 3]
:scheduler:
  :schedule:
    daily_report:
      cron: "0 2 * * *"  # 2 AM daily
      class: DailyReportJob
      queue: low
    hourly_sync:
      every: "1h"
      class: SyncDataJob
      queue: default
    SyncDataJob:
      every: ["30m"]
"""


@pytest.fixture(autouse=True)
def aj_seed_registry():
    saved = registry.snapshot()
    registry.restore({cls.job_name: cls for cls in JOBS})
    yield
    registry.restore(saved)


def load(tmp_path, text, environment=None):
    path = tmp_path / "recurring.yml"
    path.write_text(text)
    app = Celery("seedfiles", set_as_current=False)
    app.conf.activejob_recurring_schedule = str(path)
    app.conf.activejob_recurring_environment = environment
    init_app(app)
    return {
        job.key: (job.class_name, job.schedule.describe(), job.args, job.queue, job.priority)
        for job in configured_jobs(app)
    }


def test_a_solid_queue_file(tmp_path):
    assert load(tmp_path, SOLID_QUEUE, "production") == {
        "deliver_notifications": (
            "fizzy.notification.bundle.DeliverJob",
            "*/30 * * * *",
            [],
            None,
            None,
        ),
        "auto_postpone_cards": ("fizzy.card.AutoPostponeJob", "0 * * * *", [], None, None),
        "cleanup_old_sessions": ("fizzy.session.CleanupJob", "0 2 * * *", [], None, None),
        "weekly_digest": ("fizzy.DigestJob", "0 8 * * 1", [], None, None),
        "several": ("fizzy.DigestJob", "0 9,15,21 * * *", ["digest"], "mail", 5),
    }


def test_a_goodjob_cron_file(tmp_path):
    assert load(tmp_path, GOODJOB) == {
        "daily_cleanup": ("fizzy.session.CleanupJob", "0 2 * * *", [], None, None),
        "hourly_sync": ("shop.DataSyncJob", "0 * * * *", [], None, None),
        "weekly_report": (
            "shop.WeeklyReportJob",
            "0 9 * * 1",
            ["admin@example.com"],
            "reports",
            1,
        ),
    }


def test_a_sidekiq_cron_file(tmp_path):
    assert load(tmp_path, SIDEKIQ_CRON) == {
        "daily_report": ("shop.DailyReportJob", "0 2 * * *", [], "low", None),
    }


def test_a_sidekiq_scheduler_block_in_sidekiq_yml(tmp_path):
    assert load(tmp_path, SIDEKIQ_SCHEDULER) == {
        "daily_report": ("shop.DailyReportJob", "0 2 * * *", [], "low", None),
        "hourly_sync": ("shop.SyncDataJob", "every 3600s", [], "default", None),
        "SyncDataJob": ("shop.SyncDataJob", "every 1800s", [], None, None),
    }
