"""The test adapter and the swap: records, filters, which classes are swapped, clear errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from activejob_celery import (
    ApplicationJob,
    ConfigurationError,
    adapters,
    config,
    perform_all_later,
    queue_as,
)
from activejob_celery.adapters import InlineAdapter
from activejob_celery.adapters.testing import PAYLOAD_KEYS, instantiate, jobs_with
from activejob_celery.testing import (
    TestAdapter,
    assert_enqueued_jobs,
    assert_enqueued_with,
    assert_no_enqueued_jobs,
    assert_no_performed_jobs,
    assert_performed_jobs,
    assert_performed_with,
    clear_enqueued_jobs,
    clear_performed_jobs,
    enqueued_jobs,
    perform_enqueued_jobs,
    performed_jobs,
    queue_adapter,
    restore_adapters,
    use_test_adapter,
    using_test_adapter,
)

ran: list[object] = []


class HelloJob(ApplicationJob):
    def perform(self, name: str, *, greeting: str = "hello") -> str:
        ran.append((name, greeting))
        return f"{greeting} {name}"


class LowJob(ApplicationJob):
    queue_as("low")

    def perform(self) -> None:
        ran.append("low")


class NamedCeleryJob(ApplicationJob):
    queue_adapter = "celery"

    def perform(self) -> None: ...


class NamedInlineJob(ApplicationJob):
    queue_adapter = "inline"

    def perform(self) -> None:
        ran.append("inline")


OWN_ADAPTER = TestAdapter()


class OwnAdapterJob(ApplicationJob):
    queue_adapter = OWN_ADAPTER

    def perform(self) -> None: ...


@pytest.fixture(autouse=True)
def aj_clean_ran() -> Iterator[None]:
    ran.clear()
    OWN_ADAPTER.clear()
    yield
    assert adapters.override is None, "a test left the test adapter swapped in"


@pytest.fixture
def aj_swapped() -> Iterator[TestAdapter]:
    adapter = use_test_adapter()
    yield adapter
    restore_adapters()


# --------------------------------------------------------------------------- records


def test_a_record_is_the_payload_plus_the_rails_keys(aj_swapped: TestAdapter) -> None:
    job = HelloJob.set(queue="greetings", priority=3).perform_later("david", greeting="hi")

    (record,) = aj_swapped.enqueued_jobs
    assert [key for key in record if key in PAYLOAD_KEYS] == list(PAYLOAD_KEYS)
    assert record["job"] is HelloJob
    assert record["args"] == ["david"]
    assert record["kwargs"] == {"greeting": "hi"}
    assert record["queue"] == record["queue_name"] == "greetings"
    assert record["priority"] == 3
    assert record["at"] is None
    assert record["job_id"] == job.job_id
    assert record["provider_job_id"] == job.provider_job_id is not None
    assert job.successfully_enqueued is True
    assert ran == []


def test_a_scheduled_record_has_at_in_epoch_seconds(aj_swapped: TestAdapter) -> None:
    before = time.time()
    HelloJob.set(wait=timedelta(minutes=5)).perform_later("david")
    wait_until = datetime(2031, 1, 2, 9, 30, tzinfo=timezone.utc)
    HelloJob.set(wait_until=wait_until).perform_later("yves")

    first, second = aj_swapped.enqueued_jobs
    assert before + 300 <= first["at"] <= time.time() + 300
    assert second["at"] == wait_until.timestamp()
    assert second["scheduled_at"] == "2031-01-02T09:30:00.000000Z"


def test_a_job_rebuilt_from_its_record_and_enqueued_again_records_its_arguments(
    aj_swapped: TestAdapter,
) -> None:
    HelloJob.perform_later("david", greeting="hey")
    rebuilt = instantiate(aj_swapped.enqueued_jobs[0])  # arguments still encoded
    assert rebuilt.arguments == []

    rebuilt.enqueue()

    again = aj_swapped.enqueued_jobs[1]
    assert (again["args"], again["kwargs"]) == (["david"], {"greeting": "hey"})
    assert again["job_id"] == aj_swapped.enqueued_jobs[0]["job_id"]


def test_perform_all_later_is_recorded_job_by_job(aj_swapped: TestAdapter) -> None:
    jobs = [HelloJob("a"), HelloJob("b"), LowJob()]
    jobs[1].set(wait=60)

    perform_all_later(jobs)

    assert [r["args"] for r in aj_swapped.enqueued_jobs] == [["a"], ["b"], []]
    assert [r["at"] is None for r in aj_swapped.enqueued_jobs] == [True, False, True]
    assert all(job.successfully_enqueued for job in jobs)


def test_performing_flags_and_filters_decide_what_runs_at_once() -> None:
    adapter = use_test_adapter()
    try:
        HelloJob.perform_later("queued")
        adapter.perform_enqueued_jobs = True
        HelloJob.perform_later("now")
        HelloJob.set(wait=60).perform_later("later")  # enqueue_at needs its own flag
        adapter.perform_enqueued_at_jobs = True
        HelloJob.set(wait=60).perform_later("scheduled")
        adapter.at = time.time() + 30
        HelloJob.set(wait=60).perform_later("too late")
        adapter.at = None
        adapter.queue = "low"
        HelloJob.perform_later("wrong queue")
        LowJob.perform_later()
        adapter.queue = None
        adapter.filter = [LowJob]
        HelloJob.perform_later("not in only")
        adapter.filter = None
        adapter.reject = lambda job: isinstance(job, HelloJob) and job.arguments == ["rejected"]
        HelloJob.perform_later("rejected")
        HelloJob.perform_later("accepted")
    finally:
        restore_adapters()

    assert ran == [("now", "hello"), ("scheduled", "hello"), "low", ("accepted", "hello")]
    assert [r["args"] for r in adapter.performed_jobs] == [["now"], ["scheduled"], [], ["accepted"]]
    assert [r["args"] for r in adapter.enqueued_jobs] == [
        ["queued"],
        ["later"],
        ["too late"],
        ["wrong queue"],
        ["not in only"],
        ["rejected"],
    ]


def test_jobs_with_filters_records_and_refuses_only_with_exclude(aj_swapped: TestAdapter) -> None:
    HelloJob.perform_later("a")
    LowJob.perform_later()
    HelloJob.set(wait=3600).perform_later("b")
    records = aj_swapped.enqueued_jobs

    assert jobs_with(records, only=HelloJob) == [records[0], records[2]]
    assert jobs_with(records, only=(HelloJob, LowJob)) == records
    assert jobs_with(records, exclude=[HelloJob]) == [records[1]]
    assert jobs_with(records, only=lambda record: record["args"] == ["b"]) == [records[2]]
    assert jobs_with(records, queue="low") == [records[1]]
    assert jobs_with(records, at=time.time() + 60) == records[:2]
    with pytest.raises(ValueError, match=r"Cannot specify both `only` and `exclude` options\."):
        jobs_with(records, only=HelloJob, exclude=LowJob)


def test_a_runaway_chain_of_jobs_is_stopped_with_a_clear_error(aj_swapped: TestAdapter) -> None:
    class ForeverJob(ApplicationJob):
        def perform(self) -> None:
            ForeverJob.perform_later()

    with pytest.raises(RuntimeError, match=r"50 jobs ran inside one another .*ForeverJob"):
        perform_enqueued_jobs(block=ForeverJob.perform_later)
    assert len(aj_swapped.performed_jobs) == TestAdapter.max_depth == 50
    assert aj_swapped.perform_enqueued_jobs is False  # the block's flags were restored


# --------------------------------------------------------------------------- the swap


def test_the_swap_covers_default_and_named_adapters_and_keeps_adapter_objects() -> None:
    adapter = use_test_adapter()
    try:

        class DefinedLater(ApplicationJob):
            def perform(self) -> None: ...

        for job_class in (HelloJob, NamedCeleryJob, NamedInlineJob, DefinedLater):
            assert adapters.adapter_for(job_class) is adapter, job_class
        assert adapters.adapter_for(OwnAdapterJob) is OWN_ADAPTER

        NamedInlineJob.perform_later()
        OwnAdapterJob.perform_later()
        assert ran == []  # recorded, not run inline
        assert [r["job"] for r in adapter.enqueued_jobs] == [NamedInlineJob]
        assert [r["job"] for r in OWN_ADAPTER.enqueued_jobs] == [OwnAdapterJob]
    finally:
        restore_adapters()
    assert isinstance(adapters.adapter_for(NamedInlineJob), InlineAdapter)


def test_every_class_swaps_adapter_objects_too_and_keep_leaves_classes_alone() -> None:
    chosen = TestAdapter()
    assert use_test_adapter(chosen, every_class=True, keep=[NamedInlineJob]) is chosen
    try:
        assert adapters.adapter_for(OwnAdapterJob) is chosen
        assert adapters.adapter_for(HelloJob) is chosen
        assert isinstance(adapters.adapter_for(NamedInlineJob), InlineAdapter)
        NamedInlineJob.perform_later()
        assert ran == ["inline"]
    finally:
        restore_adapters()


def test_swaps_nest_and_each_restore_undoes_one() -> None:
    outer = use_test_adapter()
    inner = use_test_adapter()
    assert adapters.adapter_for(HelloJob) is inner
    assert queue_adapter() is inner
    restore_adapters()
    assert adapters.adapter_for(HelloJob) is outer
    restore_adapters()
    assert adapters.override is None
    restore_adapters()  # nothing left to undo: a no-op
    assert adapters.override is None


def test_without_a_swap_the_test_adapter_setting_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    named = TestAdapter()
    monkeypatch.setitem(adapters._named, "test", named)
    config.use_settings(config.Settings(queue_adapter="test"))

    HelloJob.perform_later("david")

    assert using_test_adapter() is True
    assert queue_adapter() is named
    assert_enqueued_with(job=HelloJob, args=["david"])
    assert enqueued_jobs() is named.enqueued_jobs


HELPERS = {
    "assert_enqueued_jobs": lambda: assert_enqueued_jobs(0),
    "assert_no_enqueued_jobs": lambda: assert_no_enqueued_jobs(),
    "assert_performed_jobs": lambda: assert_performed_jobs(0),
    "assert_no_performed_jobs": lambda: assert_no_performed_jobs(),
    "assert_enqueued_with": lambda: assert_enqueued_with(job=HelloJob),
    "assert_performed_with": lambda: assert_performed_with(job=HelloJob),
    "perform_enqueued_jobs (without a block)": lambda: perform_enqueued_jobs(),
    "enqueued_jobs": enqueued_jobs,
    "performed_jobs": performed_jobs,
    "clear_enqueued_jobs": clear_enqueued_jobs,
    "clear_performed_jobs": clear_performed_jobs,
}


@pytest.mark.parametrize("method", list(HELPERS))
def test_helpers_need_the_test_adapter_and_say_how_to_get_it(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(adapters._named, "celery", raising=False)
    config.use_settings(config.Settings(queue_adapter="celery"))
    with pytest.raises(ConfigurationError) as not_set_up:
        HELPERS[method]()
    assert str(not_set_up.value).startswith(
        f"{method} requires the Active Job test adapter, you're using the 'celery' adapter, "
        "which is not set up. Request the activejob_adapter fixture"
    )

    config.use_settings(config.Settings(queue_adapter="inline"))
    with pytest.raises(ConfigurationError, match=f"you're using {InlineAdapter.__name__}\\."):
        HELPERS[method]()
    assert using_test_adapter() is False


def test_perform_enqueued_jobs_with_a_block_just_runs_it_without_a_test_adapter() -> None:
    config.use_settings(config.Settings(queue_adapter="inline"))

    result = perform_enqueued_jobs(block=lambda: HelloJob.perform_later("inline") and "done")

    assert result == "done"
    assert ran == [("inline", "hello")]  # the inline adapter ran it, as it always does
