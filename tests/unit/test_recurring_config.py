"""recurring.yml and mappings: environments, class lookup, checks at load time, firing a run."""

from __future__ import annotations

import logging
import textwrap
from datetime import date, datetime, timezone

import pytest
from celery import Celery

from activejob_celery import ApplicationJob, ConfigurationError, init_app, queue_as
from activejob_celery.recurring import RecurringJob, configured_jobs, load_recurring


class RecurringCleanupJob(ApplicationJob):
    queue_as("maintenance")

    def perform(self, *args, **kwargs):
        return args, kwargs


class RecurringDigestJob(ApplicationJob):
    job_name = "shop.DigestJob"

    def perform(self, kind="daily"):
        return kind


SEED_YAML = """\
# config/recurring.yml, as Solid Queue apps write it
production:
  cleanup_old_records:
    class: RecurringCleanupJob
    schedule: every day at 2am
  send_daily_digest:
    class: shop.DigestJob
    schedule: every day at 8am
    args: ["digest"]
  process_payments:
    class: RecurringCleanupJob
    schedule: every 15 minutes
    queue: payments
    priority: 2
    description: Settle pending payments
  weekly_digest:
    class: RecurringDigestJob
    schedule: "0 8 * * 1"  # Monday at 8 AM
    kwargs: {kind: weekly}

development:
  test_job:
    class: RecurringCleanupJob
    schedule: every 5 minutes
"""


@pytest.fixture
def aj_seed_file(tmp_path):
    path = tmp_path / "recurring.yml"
    path.write_text(SEED_YAML)
    return path


def test_a_solid_queue_file_loads_the_chosen_environment(aj_seed_file):
    jobs = {job.key: job for job in load_recurring(aj_seed_file, environment="production")}
    assert list(jobs) == [
        "cleanup_old_records",
        "send_daily_digest",
        "process_payments",
        "weekly_digest",
    ]
    assert jobs["cleanup_old_records"].job_class is RecurringCleanupJob
    assert jobs["cleanup_old_records"].schedule.cron == "0 2 * * *"
    assert jobs["send_daily_digest"].job_class is RecurringDigestJob  # by job_name
    assert jobs["send_daily_digest"].args == ["digest"]
    payments = jobs["process_payments"]
    assert (payments.queue, payments.priority, payments.description) == (
        "payments",
        2,
        "Settle pending payments",
    )
    assert payments.schedule.cron == "*/15 * * * *"
    assert jobs["weekly_digest"].kwargs == {"kind": "weekly"}
    assert all(job.static for job in jobs.values())
    [dev] = load_recurring(str(aj_seed_file), environment="development")
    assert (dev.key, dev.schedule.cron) == ("test_job", "*/5 * * * *")


def test_sections_need_an_environment_and_a_missing_one_means_no_entries(aj_seed_file, caplog):
    with pytest.raises(
        ConfigurationError, match=r"environment sections \(production, development\)"
    ):
        load_recurring(aj_seed_file)
    with caplog.at_level(logging.WARNING, logger="activejob_celery.recurring.config"):
        assert load_recurring(aj_seed_file, environment="staging") == []
    assert "has no 'staging' section" in caplog.text


def test_a_flat_mapping_needs_no_environment_and_empty_sources_have_no_entries(tmp_path):
    jobs = load_recurring(
        {"ping": {"class": "RecurringCleanupJob", "schedule": "every 30 seconds"}}
    )
    assert [(job.key, job.schedule.every) for job in jobs] == [("ping", 30.0)]
    assert load_recurring(
        {"ping": {"class": "RecurringCleanupJob", "schedule": "@hourly"}}, environment="x"
    )
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing scheduled yet\n")
    assert load_recurring(empty) == []
    assert load_recurring(None) == []
    assert load_recurring({"production": None}, environment="production") == []


def test_an_unknown_class_fails_at_load_time_naming_the_entry():
    with pytest.raises(ConfigurationError) as raised:
        load_recurring({"nightly": {"class": "GoneJob", "schedule": "every day at 2am"}})
    message = str(raised.value)
    assert "recurring job 'nightly'" in message
    assert "class 'GoneJob' is not a registered job class" in message


def test_a_bare_class_name_must_be_unique():
    class TwinJob(ApplicationJob):
        job_name = "a.TwinJob"

        def perform(self): ...

    class TwinJob2(ApplicationJob):
        job_name = "b.TwinJob"

        def perform(self): ...

    TwinJob2.__name__ = "TwinJob"
    with pytest.raises(
        ConfigurationError, match=r"class 'TwinJob' is ambiguous: it could be a.TwinJob, b.TwinJob"
    ):
        load_recurring({"twin": {"class": "TwinJob", "schedule": "every hour"}})
    [job] = load_recurring({"twin": {"class": "b.TwinJob", "schedule": "every hour"}})
    assert job.job_class is TwinJob2


def test_a_bad_schedule_fails_at_load_time_naming_the_entry_and_the_supported_forms():
    with pytest.raises(ConfigurationError) as raised:
        load_recurring({"digest": {"class": "RecurringDigestJob", "schedule": "every other day"}})
    message = str(raised.value)
    assert "recurring job 'digest': schedule 'every other day' is not supported" in message
    assert '"every monday at 9am"' in message


def test_every_problem_is_reported_at_once_with_the_file_name(tmp_path):
    path = tmp_path / "recurring.yml"
    path.write_text(
        textwrap.dedent(
            """\
            a:
              class: NopeJob
              schedule: every day at 2am
            b:
              class: RecurringCleanupJob
              schedule: "61 * * * *"
            c:
              class: RecurringCleanupJob
              schedul: every minute
            """
        )
    )
    with pytest.raises(ConfigurationError) as raised:
        load_recurring(path)
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{path}: invalid recurring jobs:"
    assert lines[1].startswith("  - recurring job 'a': class 'NopeJob'")
    assert lines[2].startswith(
        "  - recurring job 'b': schedule '61 * * * *' is not a valid cron line"
    )
    assert lines[3] == "  - recurring job 'c': unknown key 'schedul'; did you mean 'schedule'?"


ENTRY_ERRORS = [
    (
        {"command": "SoftDeletedRecord.purge", "schedule": "every day"},
        "command: entries are not supported",
    ),
    (
        {"class": "RecurringCleanupJob", "schedule": "@daily", "cron": "0 2 * * *"},
        "give one of schedule, cron, not several",
    ),
    (
        {"class": "RecurringCleanupJob", "schedule": "@daily", "every": "1h"},
        "give one of schedule, every, not several",
    ),
    ({"class": "RecurringCleanupJob"}, "schedule: is missing"),
    ({"schedule": "@daily"}, "class: must name a registered job class"),
    ({"class": "RecurringCleanupJob", "schedule": 5}, "schedule 5 is not a text"),
    (
        {"class": "RecurringCleanupJob", "schedule": "@daily", "args": {"a": 1}},
        "args: must be a list",
    ),
    (
        {"class": "RecurringCleanupJob", "schedule": "@daily", "kwargs": [1]},
        "kwargs: must be a mapping",
    ),
    ({"class": "RecurringCleanupJob", "schedule": "@daily", "kwargs": {1: 2}}, "with string keys"),
    (
        {"class": "RecurringCleanupJob", "schedule": "@daily", "priority": "high"},
        "priority: must be an integer",
    ),
    (
        {"class": "RecurringCleanupJob", "schedule": "@daily", "priority": True},
        "priority: must be an integer",
    ),
    ({"class": "RecurringCleanupJob", "schedule": "@daily", "queue": 3}, "queue: must be a text"),
    (
        {"class": "RecurringCleanupJob", "schedule": "@daily", "args": [object()]},
        "Unsupported argument",
    ),
    ("RecurringCleanupJob", "expected a mapping with class and schedule"),
]


@pytest.mark.parametrize(("entry", "message"), ENTRY_ERRORS, ids=[e[1] for e in ENTRY_ERRORS])
def test_entry_errors_name_the_entry_and_the_fix(entry, message):
    with pytest.raises(ConfigurationError) as raised:
        load_recurring({"job": entry})
    assert "recurring job 'job'" in str(raised.value)
    assert message in str(raised.value)


def test_yaml_is_read_with_safe_load_only(tmp_path):
    path = tmp_path / "recurring.yml"
    path.write_text("boom: !!python/object/apply:os.system ['echo owned']\n")
    with pytest.raises(ConfigurationError, match="is not valid YAML"):
        load_recurring(path)


def test_unreadable_and_non_mapping_sources_are_configuration_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read recurring schedule"):
        load_recurring(tmp_path / "missing.yml")
    listed = tmp_path / "list.yml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigurationError, match="expected a mapping of entries, got list"):
        load_recurring(listed)


def test_yaml_values_keep_their_types_through_the_stored_spec(tmp_path):
    path = tmp_path / "recurring.yml"
    path.write_text(
        "report:\n  class: RecurringCleanupJob\n  schedule: every monday at 9am Europe/Paris\n"
        "  args: [2024-05-01, 42, [1, 2]]\n  kwargs: {tags: !!set {a: null}, limit: 1.5}\n"
    )
    [job] = load_recurring(path)
    assert job.args == [date(2024, 5, 1), 42, [1, 2]]
    spec = job.to_spec()
    assert spec["schedule"] == "every monday at 9am Europe/Paris"
    assert spec["class"] == RecurringCleanupJob.job_name
    again = RecurringJob.from_spec(spec)
    assert again == job
    assert again.kwargs == {"tags": {"a"}, "limit": 1.5}


def test_a_single_scalar_argument_is_wrapped_in_a_list():
    [job] = load_recurring(
        {"one": {"class": "RecurringCleanupJob", "schedule": "@daily", "args": 7}}
    )
    assert job.args == [7]


def test_each_run_enqueues_through_perform_later_with_a_fresh_job_id(aj_adapter):
    [job] = load_recurring(
        {
            "pay": {
                "class": "RecurringCleanupJob",
                "schedule": "every 15 minutes",
                "args": [[1]],
                "kwargs": {"mode": "fast"},
                "queue": "payments",
                "priority": 3,
            }
        }
    )
    first, second = job.enqueue(), job.enqueue()
    assert first.job_id != second.job_id
    assert [record["queue"] for record in aj_adapter.enqueued_jobs] == ["payments", "payments"]
    assert [record["priority"] for record in aj_adapter.enqueued_jobs] == [3, 3]
    assert first.arguments == [[1]] and first.keyword_arguments == {"mode": "fast"}
    first.arguments[0].append(2)
    assert job.args == [[1]]  # every run gets its own copy of the configured arguments


def test_without_queue_and_priority_the_jobs_own_declarations_apply(aj_adapter):
    [job] = load_recurring({"c": {"class": "RecurringCleanupJob", "schedule": "@daily"}})
    enqueued = job.enqueue()
    assert enqueued.queue_name == "maintenance"
    assert aj_adapter.enqueued_jobs[0]["queue"] == "maintenance"


def test_next_time_uses_the_schedule():
    [job] = load_recurring(
        {"n": {"class": "RecurringCleanupJob", "schedule": "0 2 * * * America/New_York"}}
    )
    after = datetime(2024, 7, 4, 12, tzinfo=timezone.utc)
    assert job.next_time(after) == datetime(2024, 7, 5, 6, tzinfo=timezone.utc)
    assert job.next_time() > datetime.now(timezone.utc)


def test_the_app_settings_name_the_file_and_the_environment(aj_seed_file):
    app = Celery("recurring_settings", broker="memory://", set_as_current=False)
    app.conf.update(
        activejob_recurring_schedule=str(aj_seed_file),
        activejob_recurring_environment="development",
    )
    init_app(app)
    assert [job.key for job in configured_jobs(app)] == ["test_job"]
    app.close()


def test_an_empty_key_prefix_is_refused_at_init_app():
    app = Celery("recurring_prefix", broker="memory://", set_as_current=False)
    app.conf.activejob_recurring_key_prefix = ""
    with pytest.raises(
        ConfigurationError, match="activejob_recurring_key_prefix must not be empty"
    ):
        init_app(app)
    app.close()


def test_yaml_anchors_and_merge_keys_share_entries_between_environments(tmp_path):
    path = tmp_path / "recurring.yml"
    path.write_text(
        textwrap.dedent(
            """\
            default: &default
              cleanup:
                class: RecurringCleanupJob
                schedule: every day at 2am
            production:
              <<: *default
              digest:
                class: RecurringDigestJob
                schedule: every monday at 9am
            development:
              <<: *default
            """
        )
    )
    assert [job.key for job in load_recurring(path, environment="production")] == [
        "cleanup",
        "digest",
    ]
    assert [job.key for job in load_recurring(path, environment="development")] == ["cleanup"]
